"""Stand-ins for Slack's and Discord's APIs, started once, and helpers to count what was recorded."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import func
from sqlmodel import select

from helpdeck.tables import ChannelDelivery, Conversation, Message
from tests.channels.standins import DiscordStandIn, SlackStandIn
from tests.conftest import Api


@pytest.fixture(scope="session")
def slack_api() -> Iterator[SlackStandIn]:
    with SlackStandIn() as server:
        yield server


@pytest.fixture(scope="session")
def discord_api() -> Iterator[DiscordStandIn]:
    with DiscordStandIn() as server:
        yield server


@pytest.fixture(autouse=True)
def _reset_standins(slack_api: SlackStandIn, discord_api: DiscordStandIn) -> None:
    slack_api.reset()
    discord_api.reset()


async def recorded(api: Api, company_id: str) -> dict[str, int]:
    """How many conversations, messages and channel deliveries a company has."""
    company = uuid.UUID(company_id)
    counts = {}
    async with api.runtime.db.session() as session:
        for name, table in (("conversations", Conversation), ("messages", Message), ("deliveries", ChannelDelivery)):
            query = select(func.count()).select_from(table).where(table.company_id == company)
            counts[name] = int((await session.exec(query)).one())
    return counts
