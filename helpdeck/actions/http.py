"""Calls a company's action over HTTP with the SSRF rules of `helpdeck.safe_http`: every new
connection is resolved once, checked and pinned to the checked address; plain http and
private targets only when the platform or the company allows them. Timeouts are bounded and
at most MAX_RESPONSE_BYTES of an answer are read."""

from __future__ import annotations

import asyncio
import json
import ssl
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpcore

from helpdeck.safe_http import RESOLVE_TIMEOUT_S, BlockedAddress, PinnedBackend

MAX_RESPONSE_BYTES = 256 * 1024
USER_AGENT = "Helpdeck-Actions/1"


class ActionRefused(Exception):
    """The URL may not be called (private target, plain http); retrying cannot help."""


class ActionUnreachable(Exception):
    """No HTTP answer: connection refused, reset, timed out; worth retrying."""


@dataclass(frozen=True)
class ActionResponse:
    status_code: int
    content_type: str
    body: bytes
    truncated: bool


def build_request(method: str, url_template: str, arguments: dict[str, Any]) -> tuple[str, bytes | None]:
    """The URL with its placeholders filled (each value URL-encoded, so it stays one path
    segment) and the other arguments as query (GET, DELETE) or JSON body (POST, PUT, PATCH)."""
    used: set[str] = set()

    def fill(name: str) -> str:
        used.add(name)
        value = quote(str(arguments.get(name, "")), safe="")
        return value.replace(".", "%2E") if value.strip(".") == "" else value

    url = url_template
    for name in arguments:
        if "{" + name + "}" in url:
            url = url.replace("{" + name + "}", fill(name))
    rest = {k: v for k, v in arguments.items() if k not in used}
    if method in ("GET", "DELETE"):
        if rest:
            url += ("&" if urlsplit(url).query else "?") + urlencode({k: _query_value(v) for k, v in rest.items()})
        return url, None
    return url, json.dumps(rest).encode()


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


class ActionHttp:
    """One pooled client per process; a strict and a relaxed pool (private targets allowed)."""

    def __init__(self, connect_timeout_s: float = 3.0, read_timeout_s: float = 8.0) -> None:
        self._timeouts = {"connect": connect_timeout_s, "read": read_timeout_s, "write": read_timeout_s, "pool": 3.0}
        self._total_s = connect_timeout_s + read_timeout_s + RESOLVE_TIMEOUT_S
        self._pools: dict[bool, httpcore.AsyncConnectionPool] = {}

    def _pool(self, allow_private: bool) -> httpcore.AsyncConnectionPool:
        if allow_private not in self._pools:
            self._pools[allow_private] = httpcore.AsyncConnectionPool(
                ssl_context=ssl.create_default_context(),
                max_connections=100,
                max_keepalive_connections=20,
                keepalive_expiry=30.0,
                network_backend=PinnedBackend(allow_private),
            )
        return self._pools[allow_private]

    async def request(
        self, method: str, url: str, headers: dict[str, str], body: bytes | None, allow_private: bool
    ) -> ActionResponse:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or (parts.scheme != "https" and not allow_private):
            raise ActionRefused("action URLs must use https")
        sent = [(k.encode(), v.encode()) for k, v in headers.items()]
        sent += [(b"accept", b"application/json"), (b"user-agent", USER_AGENT.encode())]
        if body is not None:
            sent += [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        try:
            async with asyncio.timeout(self._total_s):
                async with self._pool(allow_private).stream(
                    method, url, headers=sent, content=body, extensions={"timeout": self._timeouts}
                ) as response:
                    chunks, read, truncated = [], 0, False
                    async for chunk in response.aiter_stream():  # type: ignore[attr-defined]
                        chunks.append(chunk)
                        read += len(chunk)
                        if read > MAX_RESPONSE_BYTES:
                            truncated = True
                            break
                    content_type = next(
                        (v.decode("latin-1").lower() for k, v in response.headers if k.lower() == b"content-type"), ""
                    )
                    body_read = b"".join(chunks)[:MAX_RESPONSE_BYTES]
                    return ActionResponse(response.status, content_type, body_read, truncated)
        except BlockedAddress as exc:
            raise ActionRefused(str(exc)) from None
        except (TimeoutError, httpcore.TimeoutException) as exc:
            raise ActionUnreachable(f"timeout ({type(exc).__name__})") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
            raise ActionUnreachable(f"{type(exc).__name__}: {exc}"[:300]) from None

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
