"""Mentions of the bot in Discord channels, received through Discord's gateway (discord.py).

One gateway connection per company whose Discord config has a bot token. A mention becomes a
turn exactly like `/ask` does (conversation per channel and author, keyed by the message id so
a reconnect's redelivery makes no second turn); the reply is posted by ChannelReplyWorkflow as a
reply to the message, with `allowed_mentions` empty. Run with `helpdeck discord-gateway`.

A config's `api_base_url` applies here too: REST calls go to it, and the gateway address is
asked from it (`GET /gateway/bot`, as Discord documents) instead of discord.py's built-in
wss://gateway.discord.gg; every connection goes through the SSRF-pinned resolver. Tested end
to end against a local stand-in for Discord's REST API and gateway websocket
(tests/channels/test_discord_gateway.py), not against Discord itself.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Any

import aiohttp
import discord
import discord.http
import yarl
from discord.gateway import DiscordWebSocket
from sqlmodel import col, select

from helpdeck.channels.crypto import SecretBox
from helpdeck.channels.inbound import start_channel_turn
from helpdeck.channels.outbound import check_api_base
from helpdeck.channels.store import open_inbound_turn
from helpdeck.runtime import Runtime
from helpdeck.safe_http import PinnedResolver
from helpdeck.tables import ChannelConfig

log = logging.getLogger(__name__)
USER_MENTION = re.compile(r"<@!?\d+>")


def mention_text(content: str) -> str:
    return USER_MENTION.sub("", content).strip()


class _PointedHTTPClient(discord.http.HTTPClient):
    """discord.py's HTTP client with the REST base and gateway address of one company's config
    (discord.py keeps both process-wide: Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)."""

    api_base: str
    gateway: yarl.URL | None

    async def request(self, route: discord.http.Route, **kwargs: Any) -> Any:
        if route.url.startswith(discord.http.Route.BASE):
            route.url = self.api_base + route.url[len(discord.http.Route.BASE) :]
        return await super().request(route, **kwargs)

    async def ws_connect(self, url: str, *, compress: int = 0) -> Any:
        wanted = yarl.URL(url)
        if self.gateway is not None and wanted.host == DiscordWebSocket.DEFAULT_GATEWAY.host:
            url = str(self.gateway.with_query(wanted.query))
        return await super().ws_connect(url, compress=compress)


class MentionClient(discord.Client):
    """A company's bot: every message that mentions it (or is a DM to it) becomes a turn."""

    def __init__(self, runtime: Runtime, company_id: uuid.UUID, api_base_url: str | None = None) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(
            intents=intents,
            allowed_mentions=discord.AllowedMentions.none(),
            connector=aiohttp.TCPConnector(resolver=PinnedResolver(runtime.settings.allow_private_urls)),
        )
        self.runtime = runtime
        self.company_id = company_id
        self.api_base_url = api_base_url
        if api_base_url:
            # One instance's class, not discord.py's globals: other companies keep their own.
            self.http.__class__ = _PointedHTTPClient
            self.http.api_base, self.http.gateway = api_base_url.rstrip("/"), None  # type: ignore[attr-defined]

    async def login(self, token: str) -> None:
        """Check the configured base (SSRF) before the first call; aiohttp's resolver, which
        pins names, is not asked about literal addresses, so this check covers those."""
        await check_api_base(self.api_base_url, self.runtime.settings.allow_private_urls)
        await super().login(token)

    async def setup_hook(self) -> None:
        """After login, before connecting: ask the configured base where its gateway is."""
        if self.api_base_url:
            _, gateway_url, _ = await self.http.get_bot_gateway()
            gateway = yarl.URL(gateway_url)
            as_http = gateway.with_scheme("https" if gateway.scheme == "wss" else "http")
            await check_api_base(str(as_http), self.runtime.settings.allow_private_urls)
            self.http.gateway = gateway  # type: ignore[attr-defined]

    async def on_message(self, message: discord.Message) -> None:
        if message.author.bot or self.user is None:
            return
        is_dm = isinstance(message.channel, discord.DMChannel)
        if not is_dm and self.user not in message.mentions:
            return
        text = mention_text(message.content)[: self.runtime.settings.max_message_chars]
        if not text:
            return
        async with self.runtime.db.session() as session:
            inbound = await open_inbound_turn(
                session,
                self.company_id,
                "discord",
                thread_key=f"{message.channel.id}:{message.author.id}",
                external_id=f"message:{message.id}",
                user_id=f"discord:{message.author.id}",
                conversation_meta={"discord": {"channel_id": str(message.channel.id),
                                               "guild_id": str(message.guild.id) if message.guild else ""}},
                target={"kind": "mention", "channel_id": str(message.channel.id), "message_id": str(message.id)},
            )  # fmt: skip
        await start_channel_turn(self.runtime, self.company_id, inbound, text, "discord")


async def run_gateways(runtime: Runtime, company_ids: list[uuid.UUID] | None = None) -> None:
    """Connect every configured bot (or those of `company_ids`) and run until cancelled."""
    from helpdeck.services.webhook_runner import announce_private_urls

    announce_private_urls(runtime.settings)
    box = SecretBox(runtime.settings.secret_key)
    query = select(ChannelConfig).where(ChannelConfig.platform == "discord")
    if company_ids is not None:
        query = query.where(col(ChannelConfig.company_id).in_(company_ids))
    async with runtime.db.session() as session:
        rows = list(await session.exec(query))
    clients = []
    for row in rows:
        token = box.open(row.secrets_sealed).get("bot_token")
        if token:
            clients.append((MentionClient(runtime, row.company_id, row.settings.get("api_base_url")), token))
    if not clients:
        log.warning("no Discord configuration has a bot token: nothing to connect")
        return
    log.info("connecting %d Discord bots to the gateway", len(clients))
    try:
        await asyncio.gather(*(client.start(token) for client, token in clients))
    finally:
        for client, _ in clients:
            await client.close()
