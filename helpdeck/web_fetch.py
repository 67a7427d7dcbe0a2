"""Fetching a customer's web pages without letting a URL aim us at our own network.

Every connection goes through `safe_http.PinnedBackend` (the name is resolved once, checked,
and that very address is dialled), redirects are followed by hand so each hop is checked again
(and kept on the same origin for crawls), and bodies are read up to a byte limit.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpcore

from helpdeck.errors import InvalidInput
from helpdeck.safe_http import BlockedAddress, resolve_allowed

USER_AGENT = "HelpdeckBot/0.1 (+https://helpdeck.dev/bot)"
MAX_REDIRECTS = 5


class FetchError(Exception):
    """A page we could not get; `code` is stable and `message` says what to do."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FetchedPage:
    url: str  # after redirects
    status: int
    content_type: str
    body: bytes


def origin(url: str) -> str:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{port}"


def normalise_url(url: str) -> str:
    """Drop the fragment, so /a#x and /a are one page."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.lower(), parts.path or "/", parts.query, ""))


async def check_public_url(url: str, allow_private: bool, field: str = "url") -> str:
    """Validate a URL a customer gave us (http/https, resolvable, public); returns it normalised."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise InvalidInput(f"not a valid URL: {exc}", code="url_invalid", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the URL must look like https://example.com/page", code="url_invalid", field=field)
    if parts.username or parts.password:
        raise InvalidInput("credentials in the URL are not accepted", code="url_invalid", field=field)
    try:
        await resolve_allowed(parts.hostname, port, allow_private)
    except BlockedAddress as exc:
        raise InvalidInput(str(exc), code="url_forbidden", field=field) from None
    except (OSError, TimeoutError):
        raise InvalidInput(f"{parts.hostname} does not resolve", code="url_unresolvable", field=field) from None
    return normalise_url(url.strip())


class PageFetcher:
    """GETs pages with bounded time and size; one pool per crawl or per activity worker."""

    def __init__(self, allow_private: bool, max_bytes: int, timeout_s: float = 15.0) -> None:
        from helpdeck.safe_http import PinnedBackend

        self.max_bytes = max_bytes
        self._timeouts = {"connect": timeout_s, "read": timeout_s, "write": timeout_s, "pool": timeout_s}
        self._total_s = timeout_s * 2
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=20,
            network_backend=PinnedBackend(allow_private),
        )

    async def fetch(self, url: str, same_origin: str | None = None) -> FetchedPage:
        """The page at `url`; with `same_origin`, redirects may not leave that origin."""
        for _ in range(MAX_REDIRECTS + 1):
            if urlsplit(url).scheme not in ("http", "https"):
                raise FetchError("url_invalid", f"{url} is not an http(s) URL")
            if same_origin is not None and origin(url) != same_origin:
                raise FetchError("off_origin", f"{url} is outside the site being crawled")
            status, headers, body = await self._get(url)
            if status in (301, 302, 303, 307, 308) and headers.get("location"):
                url = normalise_url(urljoin(url, headers["location"]))
                continue
            if status >= 400:
                raise FetchError("fetch_failed", f"{url} answered HTTP {status}")
            return FetchedPage(url, status, headers.get("content-type", ""), body)
        raise FetchError("fetch_failed", f"{url} redirects more than {MAX_REDIRECTS} times")

    async def _get(self, url: str) -> tuple[int, dict[str, str], bytes]:
        headers = [(b"user-agent", USER_AGENT.encode()), (b"accept", b"text/html,application/xhtml+xml,*/*;q=0.5")]
        try:
            async with asyncio.timeout(self._total_s):
                async with self._pool.stream(
                    "GET", url, headers=headers, extensions={"timeout": self._timeouts}
                ) as response:
                    chunks: list[bytes] = []
                    size = 0
                    async for chunk in response.aiter_stream():  # type: ignore[attr-defined]
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise FetchError("too_large", f"{url} is larger than {self.max_bytes} bytes")
                        chunks.append(chunk)
                    found = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
                    return response.status, found, b"".join(chunks)
        except BlockedAddress as exc:
            raise FetchError("url_forbidden", f"refused: {exc}") from None
        except (TimeoutError, httpcore.TimeoutException):
            raise FetchError("fetch_failed", f"{url} did not answer in time") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
            raise FetchError("fetch_failed", f"{url} could not be fetched: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        await self._pool.aclose()
