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
    console.print(f"  admin token  {resolved.admin_token}")
    console.print("  Ctrl-C stops everything.")
    try:
        _serve(resolved, run_worker=True)
    except KeyboardInterrupt:
        pass  # uvicorn re-raises Ctrl-C after its graceful shutdown; ours follows
    finally:
        with console.status("stopping…"):
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


def main() -> None:
    os.environ.setdefault("DO_NOT_TRACK", "1")
    app()
    sys.exit(0)
