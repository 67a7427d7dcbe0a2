"""`helpdeck`: run everything on a laptop (`up`), or one role of the scale-out shape."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

app = typer.Typer(help="Helpdeck: durable AI customer support.", no_args_is_help=True, add_completion=False)
console = Console(stderr=True)


def _settings(**overrides: object):  # type: ignore[no-untyped-def]
    from helpdeck.settings import Settings

    try:
        base = Settings()
        return base.model_copy(update={k: v for k, v in overrides.items() if v is not None}) if overrides else base
    except ValidationError as exc:
        for error in exc.errors():
            field = ".".join(str(p) for p in error["loc"]) or "settings"
            console.print(f"[red]invalid setting[/red] HELPDECK_{field.upper()}: {error['msg']}")
        raise typer.Exit(2) from None


def _serve(settings, run_worker: bool) -> None:  # type: ignore[no-untyped-def]
    import uvicorn

    from api.app import create_app
    from helpdeck.logs import configure_logging

    configure_logging(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings, run_worker=run_worker),
            host=settings.host,
            port=settings.port,
            log_config=None,
            timeout_graceful_shutdown=10,
        )
    )
    server.run()


@app.command()
def up(
    host: Annotated[str | None, typer.Option(help="API address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="API port")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where data lives (env HELPDECK_DATA_DIR)")] = None,
) -> None:
    """Start Temporal, PostgreSQL, Redis, the worker and the API: everything, in one command."""
    from helpdeck.embedded import PortInUseError
    from helpdeck.stack import EmbeddedStack

    settings = _settings(host=host, port=port, data_dir=data_dir)
    stack = EmbeddedStack(settings)
    try:
        with console.status("starting Temporal, PostgreSQL and Redis…"):
            resolved = stack.start()
    except PortInUseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    api = f"http://{resolved.host}:{resolved.port}"
    console.print(f"[bold green]Helpdeck is up[/bold green]  data in {resolved.data_path}")
    console.print(f"  API          {api}")
    console.print(f"  API docs     {api}/docs")
    if stack.temporal is not None and stack.temporal.ui_port:
        console.print(f"  Temporal UI  http://{resolved.host}:{stack.temporal.ui_port}")
    from helpdeck.dashboard_process import start_dashboard, stop_dashboard

    dashboard, dashboard_url = start_dashboard(resolved)
    console.print(f"  Dashboard    {dashboard_url}")
    console.print(f"  admin token  {resolved.admin_token}")
    console.print("  Ctrl-C stops everything.")
    from helpdeck.knowledge_startup import preload_parsers_in_background

    preload_parsers_in_background()  # the document parsers' first import (~9 s), off the first upload
    try:
        _serve(resolved, run_worker=True)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after its graceful shutdown; ours follows
    finally:
        with console.status("stopping…"):
            stop_dashboard(dashboard)
            stack.stop()
        console.print("stopped.")


@app.command()
def api(
    host: Annotated[str | None, typer.Option()] = None,
    port: Annotated[int | None, typer.Option()] = None,
) -> None:
    """Run only the API (scale-out shape): needs DATABASE_URL, REDIS_URL and TEMPORAL_ADDRESS."""
    settings = _settings(host=host, port=port)
    missing = [n for n in ("database_url", "redis_url", "temporal_address", "admin_token") if not getattr(settings, n)]
    if missing:
        console.print(f"[red]error:[/red] `helpdeck api` needs {', '.join('HELPDECK_' + m.upper() for m in missing)}")
        raise typer.Exit(2)
    from helpdeck.db import migrate

    migrate(settings.database_url)
    _serve(settings, run_worker=False)


@app.command()
def worker() -> None:
    """Run only a Temporal worker (scale-out shape), like `python worker.py`."""
    from worker import run_worker

    asyncio.run(run_worker())


@app.command(name="discord-gateway")
def discord_gateway() -> None:
    """Answer mentions of each company's Discord bot (gateway); needs the scale-out URLs."""

    async def run() -> None:
        from helpdeck.channels.discord_gateway import run_gateways
        from helpdeck.logs import configure_logging
        from helpdeck.runtime import open_runtime

        settings = _settings()
        configure_logging(settings)
        runtime = await open_runtime(settings)
        try:
            await run_gateways(runtime)
        finally:
            await runtime.close()

    asyncio.run(run())


@app.command(name="migrate")
def migrate_cmd() -> None:
    """Bring the database schema up to date (DATABASE_URL)."""
    from helpdeck.db import migrate

    settings = _settings()
    if not settings.database_url:
        console.print("[red]error:[/red] set DATABASE_URL")
        raise typer.Exit(2)
    migrate(settings.database_url)
    console.print("schema is up to date")


kb = typer.Typer(help="The knowledge base: add documents.", no_args_is_help=True)
app.add_typer(kb, name="kb")


@kb.command("add")
def kb_add(
    paths: Annotated[list[Path], typer.Argument(help="Files or folders to ingest")],
    company: Annotated[str, typer.Option(help="The company the documents belong to")],
    api_url: Annotated[str, typer.Option("--api", help="The Helpdeck API")] = "http://127.0.0.1:8000",
    key: Annotated[str, typer.Option(help="A secret key of the company", envvar="HELPDECK_API_KEY")] = "",
) -> None:
    """Ingest files and folders through the API, with progress; exits 1 listing what failed."""
    from helpdeck.kb_cli import add_paths, collect_files, company_of_key

    if not key:
        console.print("[red]error:[/red] pass --key (or HELPDECK_API_KEY): a secret key of the company")
        raise typer.Exit(2)
    try:
        files = collect_files(paths)
        owner = asyncio.run(company_of_key(api_url, key))
    except (FileNotFoundError, PermissionError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if owner != company:
        console.print(f"[red]error:[/red] the key belongs to company {owner}, not {company}")
        raise typer.Exit(2)
    outcomes = asyncio.run(add_paths(files, api_url, key, console))
    failed = [o for o in outcomes if o.status != "ready"]
    console.print(f"{len(outcomes) - len(failed)} of {len(outcomes)} files ready")
    for outcome in failed:
        console.print(f"[red]{outcome.status}[/red] {outcome.path}: {outcome.detail}")
    if failed:
        raise typer.Exit(1)


def main() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    app()
    sys.exit(0)
