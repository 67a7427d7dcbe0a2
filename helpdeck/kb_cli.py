"""`helpdeck kb add PATH… --company ID`: upload files and folders through the API and follow each
document to `ready` or `failed`, with a progress bar per file and one overall."""

from __future__ import annotations

import asyncio
import mimetypes
from dataclasses import dataclass
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

SKIPPED_NAMES = {".DS_Store", "Thumbs.db"}
POLL_EVERY_S = 0.5


@dataclass
class Outcome:
    path: Path
    status: str  # ready | failed | rejected
    detail: str = ""


def collect_files(paths: list[Path]) -> list[Path]:
    """Files given, and every file under the folders given (hidden ones skipped), in order."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(
                p
                for p in path.rglob("*")
                if p.is_file() and p.name not in SKIPPED_NAMES and not any(part.startswith(".") for part in p.parts)
            )
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path} does not exist")
    return files


async def _follow(client: httpx.AsyncClient, document_id: str, progress: Progress, task: TaskID) -> tuple[str, str]:
    while True:
        response = await client.get(f"/v1/documents/{document_id}")
        response.raise_for_status()
        body = response.json()
        done, total = body["progress"]["chunks_done"], body["progress"]["chunks_total"]
        progress.update(task, completed=done, total=max(total, 1), status=body["status"])
        if body["status"] == "ready":
            progress.update(task, completed=max(total, 1))
            return "ready", ""
        if body["status"] == "failed":
            error = body.get("error") or {}
            return "failed", f"{error.get('code', 'failed')}: {error.get('message', '')}"
        await asyncio.sleep(POLL_EVERY_S)


async def _add_one(client: httpx.AsyncClient, path: Path, progress: Progress, overall: TaskID) -> Outcome:
    task = progress.add_task(path.name[:40], total=1, status="uploading")
    try:
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        response = await client.post(
            "/v1/documents", files={"file": (path.name, await asyncio.to_thread(path.read_bytes), content_type)}
        )
        if response.status_code >= 400:
            try:
                problem = response.json()
                detail = f"{problem.get('code')}: {problem.get('detail')}"
            except ValueError:
                detail = f"HTTP {response.status_code}"
            progress.update(task, status="[red]rejected")
            return Outcome(path, "rejected", detail)
        status, detail = await _follow(client, response.json()["id"], progress, task)
        progress.update(task, status="[green]ready" if status == "ready" else "[red]failed")
        return Outcome(path, status, detail)
    except httpx.HTTPError as exc:
        progress.update(task, status="[red]error")
        return Outcome(path, "failed", f"{type(exc).__name__}: {exc}")
    finally:
        progress.advance(overall)


async def add_paths(files: list[Path], api_url: str, key: str, console: Console, concurrency: int = 2) -> list[Outcome]:
    """Upload `files` (a few at a time) and wait for each to finish ingesting."""
    limit = asyncio.Semaphore(concurrency)
    columns = (
        TextColumn("{task.description:<40}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
    )
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=120) as client:
        with Progress(*columns, console=console) as progress:
            overall = progress.add_task("[bold]all files", total=len(files), status="")

            async def guarded(path: Path) -> Outcome:
                async with limit:
                    return await _add_one(client, path, progress, overall)

            return list(await asyncio.gather(*(guarded(p) for p in files)))


async def company_of_key(api_url: str, key: str) -> str:
    """The company the key belongs to (so `--company` can be checked before uploading anything)."""
    async with httpx.AsyncClient(base_url=api_url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        response = await client.get("/v1/documents", params={"limit": 1})
        if response.status_code != 200:
            raise PermissionError(f"the API refused the key: HTTP {response.status_code} {response.text[:200]}")
        return str(response.json()["company_id"])
