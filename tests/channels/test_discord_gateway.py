"""Discord mentions through the gateway, end to end with discord.py: local stand-ins for
Discord's REST API (tests.channels.standins.DiscordStandIn) and its gateway websocket
(tests.channels.gateway_standin). The bot logs in, is told where the gateway is by
GET /gateway/bot, connects (HELLO, IDENTIFY with its token, READY); a MESSAGE_CREATE that
mentions it becomes a turn whose answer is POSTed to the channel as a reply, mass mentions
neutralised (allowed_mentions parse=[]).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from helpdeck.channels.discord_gateway import MentionClient, run_gateways
from helpdeck.tables import ChannelDelivery
from tests.channels.gateway_standin import DiscordGatewayStandIn
from tests.channels.standins import DiscordSigner, DiscordStandIn
from tests.conftest import Api, Tenant

CHANNEL = "2300000000000000002"
CUSTOMER = {"id": "4500000000000000004", "username": "customer", "discriminator": "0", "avatar": None,
            "global_name": None}  # fmt: skip


@pytest.fixture
def gateway(discord_api: DiscordStandIn) -> Iterator[DiscordGatewayStandIn]:
    with DiscordGatewayStandIn(
        discord_api.bot_token, discord_api.bot_user(), discord_api.APPLICATION_ID
    ) as server:
        discord_api.gateway_url = server.url
        yield server
    discord_api.gateway_url = ""


async def _configure(tenant: Tenant, discord_api: DiscordStandIn) -> None:
    body = {"application_id": discord_api.APPLICATION_ID, "public_key": DiscordSigner().public_key,
            "bot_token": discord_api.bot_token, "api_base_url": discord_api.base_url}  # fmt: skip
    response = await tenant.client.put("/v1/channels/discord", json=body)
    assert response.status_code == 200, response.text


def message_create(message_id: str, content: str, mentions: list[dict]) -> dict:
    return {
        "id": message_id, "channel_id": CHANNEL, "guild_id": "3400000000000000003", "author": CUSTOMER,
        "content": content, "timestamp": datetime.now(UTC).isoformat(), "edited_timestamp": None,
        "tts": False, "mention_everyone": False, "mentions": mentions, "mention_roles": [],
        "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": 0,
    }  # fmt: skip


async def _wait(predicate, timeout_s: float = 60.0):  # type: ignore[no-untyped-def]
    for _ in range(int(timeout_s / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not true in time")


async def test_a_mention_through_the_gateway_is_answered_in_the_channel_without_mass_mentions(
    api: Api, tenant: Tenant, discord_api: DiscordStandIn, gateway: DiscordGatewayStandIn
) -> None:
    await _configure(tenant, discord_api)
    running = asyncio.create_task(run_gateways(api.runtime, [uuid.UUID(tenant.id)]))
    try:
        await _wait(gateway.ready.is_set)
        assert discord_api.logins[:3] == ["/users/@me", "/oauth2/applications/@me", "/gateway/bot"]
        assert gateway.identifies[0]["token"] == discord_api.bot_token
        assert gateway.identifies[0]["intents"] & (1 << 15)  # MESSAGE_CONTENT, to read the question

        bot = discord_api.bot_user()
        # Not for the bot: no mention. Then the question, which also tries a mass mention.
        await gateway.dispatch("MESSAGE_CREATE", message_create("5600000000000000001", "hello all", []))
        await gateway.dispatch("MESSAGE_CREATE", message_create(
            "5600000000000000002", f"<@{bot['id']}> where is my parcel? @everyone", [bot]
        ))  # fmt: skip
        posted = await discord_api.wait_for(lambda c: c["kind"] == "channel_message", timeout_s=90)
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running

    assert len(posted) == 1
    reply = posted[0]
    assert reply["channel_id"] == CHANNEL and reply["authorization"] == f"Bot {discord_api.bot_token}"
    assert reply["body"]["allowed_mentions"] == {"parse": []}
    assert reply["body"]["message_reference"]["message_id"] == "5600000000000000002"
    assert reply["body"]["content"]
    # Discord saw the post before the delivery's row records it: wait for the record.
    for _ in range(300):
        async with api.runtime.db.session() as session:
            deliveries = list(await session.exec(
                select(ChannelDelivery).where(ChannelDelivery.company_id == uuid.UUID(tenant.id))
            ))  # fmt: skip
        if deliveries and deliveries[0].status != "pending":
            break
        await asyncio.sleep(0.1)
    assert [d.external_id for d in deliveries] == ["message:5600000000000000002"]
    assert deliveries[0].status == "posted"


async def test_a_private_api_base_is_refused_before_the_bot_connects(
    api: Api, tenant: Tenant, discord_api: DiscordStandIn, gateway: DiscordGatewayStandIn
) -> None:
    """With private URLs not allowed (production), neither the REST stand-in nor the gateway on
    127.0.0.1 is reached: the pinned resolver refuses loopback at the first connection."""
    strict = dataclasses.replace(
        api.runtime, settings=api.settings.model_copy(update={"allow_private_urls": False})
    )
    client = MentionClient(strict, uuid.UUID(tenant.id), discord_api.base_url)
    try:
        with pytest.raises(Exception) as refused:  # noqa: B017 (aiohttp's or our refusal)
            await client.start(discord_api.bot_token)
        assert "non-public" in str(refused.value) or "refused" in str(refused.value), refused.value
    finally:
        await client.close()
    assert discord_api.logins == [] and gateway.connections == 0
