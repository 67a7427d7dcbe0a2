"""The blob-store seam: uploaded document bytes, addressed by key, outside PostgreSQL and Temporal.

The embedded shape keeps them as files under the data directory; an object store (S3, GCS)
implements the same three methods for the scale-out shape.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from pathlib import Path
from typing import Protocol

_SAFE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,120}(/[A-Za-z0-9][A-Za-z0-9._-]{0,120}){0,3}")


class BlobStore(Protocol):
    async def put(self, key: str, data: bytes) -> None: ...

    async def get(self, key: str) -> bytes:
        """The bytes stored under `key`; FileNotFoundError when there are none."""
        ...

    async def delete_prefix(self, prefix: str) -> None: ...


class LocalBlobStore:
    """Files under `root`; writes go through a temporary file and a rename, so readers never
    see half a blob."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        if not _SAFE_KEY.fullmatch(key):
            raise ValueError(f"unsafe blob key {key!r}")
        return self.root / key

    def _put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def put(self, key: str, data: bytes) -> None:
        await asyncio.to_thread(self._put, key, data)

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)

    def _delete_prefix(self, prefix: str) -> None:
        target = self._path(prefix)
        if target.is_file():
            target.unlink(missing_ok=True)
        elif target.is_dir():
            for child in sorted(target.rglob("*"), reverse=True):
                child.unlink() if child.is_file() else child.rmdir()
            target.rmdir()

    async def delete_prefix(self, prefix: str) -> None:
        await asyncio.to_thread(self._delete_prefix, prefix)
