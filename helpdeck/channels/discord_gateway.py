"""Mentions of the bot in Discord channels, received through Discord's gateway (discord.py).

One gateway connection per company whose Discord config has a bot token. A mention becomes a
turn exactly like `/ask` does (conversation per channel and author, keyed by the message id so
a reconnect's redelivery makes no second turn); the reply is posted by ChannelReplyWorkflow as a
reply to the message, with `allowed_mentions` empty. Run with `helpdeck discord-gateway`.

Not tested against Discord: its gateway cannot be reached from the test machines. The turn and
reply path it feeds (open_inbound_turn, start_channel_turn, post_discord_message) is tested.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid

import discord
from sqlmodel import select

from helpdeck.channels.crypto import SecretBox
from helpdeck.channels.inbound import start_channel_turn
from helpdeck.channels.store import open_inbound_turn
from helpdeck.runtime import Runtime
from helpdeck.tables import ChannelConfig

log = logging.getLogger(__name__)
USER_MENTION = re.compile(r"<@!?\d+>")


def mention_text(content: str) -> str:
    return USER_MENTION.sub("", content).strip()


class MentionClient(discord.Client):
    """A company's bot: every message that mentions it (or is a DM to it) becomes a turn."""

    def __init__(self, runtime: Runtime, company_id: uuid.UUID) -> None:
        intents = discord.Intents.default()
        intents.message_content = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none())
        self.runtime = runtime
        self.company_id = company_id

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


async def run_gateways(runtime: Runtime) -> None:
    """Connect every configured bot and run until cancelled."""
    box = SecretBox(runtime.settings.secret_key)
    async with runtime.db.session() as session:
        rows = list(await session.exec(select(ChannelConfig).where(ChannelConfig.platform == "discord")))
    clients = []
    for row in rows:
        token = box.open(row.secrets_sealed).get("bot_token")
        if token:
            clients.append((MentionClient(runtime, row.company_id), token))
    if not clients:
        log.warning("no Discord configuration has a bot token: nothing to connect")
        return
    log.info("connecting %d Discord bots to the gateway", len(clients))
    await asyncio.gather(*(client.start(token) for client, token in clients))
