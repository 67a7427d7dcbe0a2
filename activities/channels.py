"""Activities of a channel reply: wait for the turn's answer, then post it to Slack or Discord.

Posting is idempotent (see helpdeck.channels.outbound), and the delivery row records what was
posted, so a retried activity or a replayed workflow never posts a reply twice.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from temporalio import activity
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from helpdeck.channels import outbound, slack
from helpdeck.channels.crypto import SecretBox
from helpdeck.channels.formatting import discord_content, slack_mrkdwn
from helpdeck.channels.store import finish_delivery, get_delivery, load_config
from helpdeck.db import Database
from helpdeck.errors import NotFound
from helpdeck.services.escalations import escalation_payload
from helpdeck.settings import Settings
from helpdeck.tables import Escalation, Message
from workflows.chat_turn import ChatTurnWorkflow

HEARTBEAT_EVERY_S = 5.0
# What a Discord user sees when a person, not the bot, owns the conversation.
HANDED_TO_HUMAN = "Thanks, a member of our team has this conversation and will answer here."


@dataclass
class AwaitTurnInput:
    turn_id: str


@dataclass
class PostReplyInput:
    company_id: str
    turn_id: str
    reply_message_id: str | None


@dataclass
class DeliveryFailedInput:
    company_id: str
    turn_id: str
    error: str


@dataclass
class EscalationNoticeInput:
    company_id: str
    escalation_id: str


@dataclass
class _Reply:
    platform: str
    target: dict
    settings: dict
    secrets: dict
    text: str | None
    citations: list[dict]


class ChannelActivities:
    def __init__(self, db: Database, temporal: Client, settings: Settings) -> None:
        self.db = db
        self.temporal = temporal
        self.box = SecretBox(settings.secret_key)
        self.allow_private = settings.allow_private_urls

    @activity.defn
    async def await_turn_reply(self, params: AwaitTurnInput) -> str | None:
        """The turn's reply message id (None when a human owns the conversation), once it exists."""
        handle = self.temporal.get_workflow_handle_for(ChatTurnWorkflow.run, params.turn_id)
        waiter = asyncio.ensure_future(handle.result())
        try:
            while not waiter.done():
                await asyncio.wait({waiter}, timeout=HEARTBEAT_EVERY_S)
                activity.heartbeat()
            return waiter.result().reply_message_id
        except WorkflowFailureError as exc:
            raise ApplicationError(f"the turn failed: {exc}", type="TurnFailed", non_retryable=True) from exc
        finally:
            waiter.cancel()

    @activity.defn
    async def post_channel_reply(self, params: PostReplyInput) -> str:
        """Post the reply where the question came from; returns the platform's message reference."""
        company_id = uuid.UUID(params.company_id)
        async with self.db.session() as session:
            delivery = await get_delivery(session, company_id, params.turn_id)
            if delivery.status in ("posted", "skipped"):
                return delivery.posted_ref or ""
            reply = await self._reply(session, company_id, delivery.platform, delivery.target, params.reply_message_id)
        try:
            posted_ref = await self._post(params.turn_id, reply)
        except outbound.ChannelRejected as exc:
            raise ApplicationError(str(exc), type="ChannelRejected", non_retryable=True) from exc
        except outbound.ChannelUnavailable as exc:
            raise ApplicationError(str(exc), type="ChannelUnavailable") from exc
        async with self.db.session() as session:
            status = "skipped" if posted_ref is None else "posted"
            await finish_delivery(session, company_id, params.turn_id, status, posted_ref)
        return posted_ref or ""

    @activity.defn
    async def mark_delivery_failed(self, params: DeliveryFailedInput) -> None:
        async with self.db.session() as session:
            await finish_delivery(session, uuid.UUID(params.company_id), params.turn_id, "failed", None, params.error)

    @activity.defn
    async def post_escalation_notice(self, params: EscalationNoticeInput) -> str:
        """Tell the company's Slack agents' channel about a new escalation, with a Claim button;
        returns the message ts ("" when no agents' channel is configured)."""
        company_id = uuid.UUID(params.company_id)
        async with self.db.session() as session:
            try:
                config = await load_config(session, self.box, params.company_id, "slack")
            except NotFound:
                return ""
            row = await session.get(Escalation, uuid.UUID(params.escalation_id))
        channel = config.settings.get("agents_channel")
        if not channel or row is None or row.company_id != company_id:
            return ""
        text, blocks = slack.escalation_notice(escalation_payload(row), row.reason)
        try:
            return await outbound.post_slack_notice(
                config.secrets["bot_token"], config.settings.get("api_base_url"), channel, text, blocks,
                f"escalation:{row.id}", self.allow_private, retrying=activity.info().attempt > 1,
            )  # fmt: skip
        except outbound.ChannelRejected as exc:
            raise ApplicationError(str(exc), type="ChannelRejected", non_retryable=True) from exc
        except outbound.ChannelUnavailable as exc:
            raise ApplicationError(str(exc), type="ChannelUnavailable") from exc

    async def _reply(
        self,
        session,
        company_id: uuid.UUID,
        platform: str,
        target: dict,  # type: ignore[no-untyped-def]
        reply_message_id: str | None,
    ) -> _Reply:
        try:
            config = await load_config(session, self.box, str(company_id), platform)
        except NotFound as exc:
            raise ApplicationError(
                f"the {platform} configuration was removed", type="ChannelRejected", non_retryable=True
            ) from exc
        message = await session.get(Message, uuid.UUID(reply_message_id)) if reply_message_id else None
        text = message.content if message is not None else None
        citations = list(message.citations) if message is not None else []
        return _Reply(platform, target, config.settings, config.secrets, text, citations)

    async def _post(self, turn_id: str, reply: _Reply) -> str | None:
        base = reply.settings.get("api_base_url")
        if reply.platform == "slack":
            if reply.text is None:
                return None  # a person owns the thread now: the bot stays quiet
            channel, thread_ts = reply.target["channel"], reply.target["thread_ts"]
            token = reply.secrets["bot_token"]
            if activity.info().attempt > 1:
                found = await outbound.find_slack_reply(
                    token, base, channel, thread_ts, turn_id, self.allow_private
                )
                if found:
                    return found
            return await outbound.post_slack_reply(
                token, base, channel, thread_ts, slack_mrkdwn(reply.text, reply.citations), turn_id,
                self.allow_private,
            )
        content = discord_content(reply.text if reply.text is not None else HANDED_TO_HUMAN, reply.citations)
        if reply.target.get("kind") == "mention":
            return await outbound.post_discord_message(
                base, reply.secrets["bot_token"], reply.target["channel_id"], reply.target["message_id"], content,
                self.allow_private,
            )
        token = self.box.open_text(reply.target["token_sealed"])
        return await outbound.edit_discord_original(
            base, reply.settings["application_id"], token, content, self.allow_private
        )
