"""A local websocket server standing in for Discord's gateway (wss://gateway.discord.gg).

It speaks the documented opening of a session: HELLO (op 10) on connect, an IDENTIFY (op 2)
whose token it checks, READY (op 0) with the bot's user; heartbeats (op 1) are ACKed (op 11).
A test then pushes dispatch events (MESSAGE_CREATE...) to the connected bot. It runs aiohttp
on its own event loop in a thread, like the HTTP stand-ins, and sends plain JSON text frames.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from aiohttp import WSMsgType, web


class DiscordGatewayStandIn:
    def __init__(self, bot_token: str, bot_user: dict[str, Any], application_id: str) -> None:
        self.bot_token = bot_token
        self.bot_user = bot_user
        self.application_id = application_id
        self.identifies: list[dict[str, Any]] = []
        self.connections = 0
        self.ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._socket: web.WebSocketResponse | None = None
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    def __enter__(self) -> DiscordGatewayStandIn:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/", self._gateway)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    async def _stop(self) -> None:
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self.connections += 1
        await socket.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in socket:
            if frame.type is not WSMsgType.TEXT:
                continue
            payload = frame.json()
            if payload.get("op") == 1:
                await socket.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif payload.get("op") == 2:
                self.identifies.append(payload["d"])
                if payload["d"].get("token") != self.bot_token:
                    await socket.close(code=4004, message=b"Authentication failed.")
                    break
                self._socket = socket
                await self._send("READY", {
                    "v": 10, "user": self.bot_user, "guilds": [], "session_id": "standin-session",
                    "resume_gateway_url": self.url, "application": {"id": self.application_id, "flags": 0},
                })  # fmt: skip
                self.ready.set()
        return socket

    async def _send(self, event: str, data: dict[str, Any]) -> None:
        assert self._socket is not None
        self._seq += 1
        await self._socket.send_json({"op": 0, "t": event, "s": self._seq, "d": data})

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        """Send a dispatch event to the connected bot (call from the test's event loop)."""
        await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._send(event, data), self._loop))
