"""Outbound HTTP to addresses a customer chose, without letting them aim it at our own network.

A URL is refused when its host resolves to a private, loopback, link-local (cloud metadata),
multicast, reserved or otherwise non-public address, and plain http is refused: both checks run
when the URL is registered and again on every new connection. The connection is made to the
very address that was checked (the name is resolved once, in `PinnedBackend.connect_tcp`),
while the Host header, SNI and certificate check keep the name, so DNS rebinding cannot switch
the target between the check and the connect. `allow_private_urls` lifts both rules for
development and tests.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpcore
from aiohttp.abc import AbstractResolver, ResolveResult

from helpdeck.errors import InvalidInput

RESOLVE_TIMEOUT_S = 5.0
# Answers beyond this are not read: only the status code matters to a delivery.
MAX_RESPONSE_BYTES = 64 * 1024


class UnsafeUrl(InvalidInput):
    """A URL we will not call; `code` says why (stable, documented)."""

    code = "webhook_url_invalid"


class BlockedAddress(OSError):
    """Raised at connect time when a name resolves to an address we must not reach."""


# Not "global" by intent, but some Python versions call them so; cloud metadata lives in some.
ALWAYS_BLOCKED = [
    ipaddress.ip_network(n)
    for n in ("0.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "192.0.0.0/24", "198.18.0.0/15", "fd00:ec2::/32")
]


def address_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in ALWAYS_BLOCKED):
        return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


async def resolve(host: str, port: int) -> list[str]:
    """Every address the name resolves to (a literal address resolves to itself)."""
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    infos = await asyncio.wait_for(
        loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout=RESOLVE_TIMEOUT_S
    )
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_allowed(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses to connect to; BlockedAddress if any answer is not public."""
    addresses = await resolve(host, port)
    if not addresses:
        raise BlockedAddress(f"{host} did not resolve")
    if not allow_private:
        blocked = [a for a in addresses if not address_is_public(a)]
        if blocked:
            raise BlockedAddress(f"{host} resolves to a non-public address ({blocked[0]})")
    return addresses


async def check_url(url: str, allow_private: bool, code_prefix: str = "webhook_url", field: str = "url") -> None:
    """Registration-time check; raises UnsafeUrl with a stable code (`{code_prefix}_forbidden`...)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}", code=f"{code_prefix}_invalid", field=field) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UnsafeUrl("the URL must look like https://example.com/path", code=f"{code_prefix}_invalid", field=field)
    if parts.username or parts.password:
        raise UnsafeUrl("credentials in the URL are not accepted", code=f"{code_prefix}_invalid", field=field)
    if parts.scheme != "https" and not allow_private:
        raise UnsafeUrl("the URL must use https", code=f"{code_prefix}_not_https", field=field)
    try:
        await resolve_allowed(parts.hostname, port, allow_private)
    except BlockedAddress as exc:
        raise UnsafeUrl(str(exc), code=f"{code_prefix}_forbidden", field=field) from None
    except (OSError, TimeoutError):
        raise UnsafeUrl(
            f"{parts.hostname} does not resolve", code=f"{code_prefix}_unresolvable", field=field
        ) from None


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Resolves each new connection's host once, checks it, and connects to that address."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve_allowed(host, port, self._allow_private)
        for address in addresses[:-1]:  # each was checked; try them in the resolver's order
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError:
                continue
        return await self._inner.connect_tcp(
            addresses[-1], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise BlockedAddress("unix sockets are not reachable")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class PinnedResolver(AbstractResolver):
    """aiohttp's resolver hook with the same rule as PinnedBackend: aiohttp connects to the very
    addresses returned here, so a name cannot be rebound between the check and the connect."""

    def __init__(self, allow_private: bool) -> None:
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        addresses = await resolve_allowed(host, port, self._allow_private)
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=socket.AF_INET6 if ":" in address else socket.AF_INET,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
            for address in addresses
        ]

    async def close(self) -> None:
        return None


def pinned_aiohttp_session(allow_private: bool, timeout_s: float = 10.0) -> aiohttp.ClientSession:
    """An aiohttp session (for SDKs built on aiohttp, such as slack_sdk) that only reaches
    addresses allowed by the rule above; the caller closes it."""
    connector = aiohttp.TCPConnector(resolver=PinnedResolver(allow_private), use_dns_cache=False)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s))


@dataclass(frozen=True)
class PostOutcome:
    status_code: int | None
    latency_ms: float
    error: str  # empty when an HTTP answer came back


class SafePoster:
    """POSTs with bounded timeouts, no redirects, pooled keep-alive connections."""

    def __init__(self, allow_private: bool, connect_timeout_s: float = 5.0, read_timeout_s: float = 10.0) -> None:
        self._allow_private = allow_private
        self._timeouts = {"connect": connect_timeout_s, "read": read_timeout_s, "write": read_timeout_s, "pool": 5.0}
        self._total_s = connect_timeout_s + read_timeout_s + RESOLVE_TIMEOUT_S
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(),
            max_connections=200,
            max_keepalive_connections=50,
            keepalive_expiry=30.0,
            network_backend=PinnedBackend(allow_private),
        )

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> PostOutcome:
        started = time.perf_counter()
        if not self._allow_private and urlsplit(url).scheme != "https":
            return PostOutcome(None, 0.0, "refused: webhook URLs must use https")
        request_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
        request_headers.append((b"content-length", str(len(body)).encode()))
        try:
            async with asyncio.timeout(self._total_s):
                async with self._pool.stream(
                    "POST", url, headers=request_headers, content=body, extensions={"timeout": self._timeouts}
                ) as response:
                    read = 0
                    async for chunk in response.aiter_stream():  # type: ignore[attr-defined]
                        read += len(chunk)
                        if read >= MAX_RESPONSE_BYTES:
                            break
                    status = response.status
        except BlockedAddress as exc:
            return PostOutcome(None, _ms(started), f"refused: {exc}")
        except TimeoutError:
            return PostOutcome(None, _ms(started), "timeout")
        except httpcore.TimeoutException as exc:
            return PostOutcome(None, _ms(started), f"timeout: {type(exc).__name__}")
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol, OSError) as exc:
            return PostOutcome(None, _ms(started), f"{type(exc).__name__}: {exc}"[:500])
        return PostOutcome(status, _ms(started), "")

    async def aclose(self) -> None:
        await self._pool.aclose()


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
