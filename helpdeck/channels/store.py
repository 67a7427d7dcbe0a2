"""Channel rows in PostgreSQL, always scoped to one company: configs, threads, deliveries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.channels.crypto import SecretBox
from helpdeck.errors import NotFound
from helpdeck.services.turn_runner import turn_id_for
from helpdeck.tables import ChannelConfig, ChannelDelivery, ChannelThread, Conversation

PLATFORMS = ("slack", "discord")


@dataclass(frozen=True)
class LoadedConfig:
    """A platform config with its secrets opened, for verifying and answering requests."""

    company_id: uuid.UUID
    platform: str
    settings: dict
    secrets: dict


@dataclass(frozen=True)
class InboundTurn:
    conversation_id: uuid.UUID
    turn_id: str
    is_new: bool  # False when this platform event was seen before


async def put_config(
    session: AsyncSession, box: SecretBox, company_id: uuid.UUID, platform: str, settings: dict, secrets: dict
) -> ChannelConfig:
    sealed = box.seal(secrets)
    row = (
        await session.exec(
            select(ChannelConfig).where(ChannelConfig.company_id == company_id, ChannelConfig.platform == platform)
        )
    ).first()
    if row is None:
        row = ChannelConfig(company_id=company_id, platform=platform, settings=settings, secrets_sealed=sealed)
    else:
        row.settings, row.secrets_sealed, row.updated_at = settings, sealed, datetime.now(UTC)
    session.add(row)
    try:
        await session.commit()
    except IntegrityError:  # two PUTs raced: the other one created it; apply ours on top
        await session.rollback()
        return await put_config(session, box, company_id, platform, settings, secrets)
    return row


async def get_config(session: AsyncSession, company_id: uuid.UUID, platform: str) -> ChannelConfig:
    row = (
        await session.exec(
            select(ChannelConfig).where(ChannelConfig.company_id == company_id, ChannelConfig.platform == platform)
        )
    ).first()
    if row is None:
        raise NotFound(f"no {platform} configuration")
    return row


async def delete_config(session: AsyncSession, company_id: uuid.UUID, platform: str) -> None:
    row = await get_config(session, company_id, platform)
    await session.delete(row)
    await session.commit()


async def load_config(session: AsyncSession, box: SecretBox, company_id: str, platform: str) -> LoadedConfig:
    """The config a platform request is addressed to; a malformed or unknown company id is a 404."""
    try:
        parsed = uuid.UUID(company_id)
    except ValueError:
        raise NotFound(f"no {platform} configuration") from None
    row = await get_config(session, parsed, platform)
    return LoadedConfig(parsed, platform, dict(row.settings), box.open(row.secrets_sealed))


async def open_inbound_turn(
    session: AsyncSession,
    company_id: uuid.UUID,
    platform: str,
    thread_key: str,
    external_id: str,
    user_id: str,
    conversation_meta: dict,
    target: dict,
) -> InboundTurn:
    """Map the platform thread to a conversation and record the reply owed, in one transaction.

    Keyed by the platform's event id: a second delivery of the same event finds the first turn.
    """
    for _ in range(3):
        seen = (
            await session.exec(
                select(ChannelDelivery).where(
                    ChannelDelivery.company_id == company_id,
                    ChannelDelivery.platform == platform,
                    ChannelDelivery.external_id == external_id,
                )
            )
        ).first()
        if seen is not None:
            return InboundTurn(seen.conversation_id, seen.turn_id, is_new=False)
        thread = (
            await session.exec(
                select(ChannelThread).where(
                    ChannelThread.company_id == company_id,
                    ChannelThread.platform == platform,
                    ChannelThread.thread_key == thread_key,
                )
            )
        ).first()
        if thread is None:
            conversation = Conversation(
                company_id=company_id, user_id=user_id[:255], channel=platform, meta=conversation_meta
            )
            session.add(conversation)
            await session.flush()
            thread = ChannelThread(
                company_id=company_id, platform=platform, thread_key=thread_key, conversation_id=conversation.id
            )
            session.add(thread)
        conversation_id = thread.conversation_id
        turn_id = turn_id_for(company_id, conversation_id, f"{platform}:{external_id}")
        session.add(
            ChannelDelivery(
                turn_id=turn_id,
                company_id=company_id,
                platform=platform,
                external_id=external_id,
                conversation_id=conversation_id,
                target=target,
            )
        )
        try:
            await session.commit()
            return InboundTurn(conversation_id, turn_id, is_new=True)
        except IntegrityError:  # the same event or thread arrived twice at once: read the winner
            await session.rollback()
    raise RuntimeError("could not record the inbound event")


async def get_delivery(session: AsyncSession, company_id: uuid.UUID, turn_id: str) -> ChannelDelivery:
    row = await session.get(ChannelDelivery, turn_id)
    if row is None or row.company_id != company_id:
        raise NotFound("no such delivery")
    return row


async def finish_delivery(
    session: AsyncSession, company_id: uuid.UUID, turn_id: str, status: str, posted_ref: str | None, error: str = ""
) -> None:
    row = await get_delivery(session, company_id, turn_id)
    if row.status == "posted" and status != "posted":
        return  # a late failure report never undoes a post
    row.status, row.posted_ref, row.error = status, posted_ref, error[:2000]
    row.posted_at = datetime.now(UTC) if status == "posted" else row.posted_at
    session.add(row)
    await session.commit()
