"""Activities that read and write a conversation in PostgreSQL and publish its turn events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from helpdeck.db import Database
from helpdeck.services import turns
from helpdeck.settings import Settings
from helpdeck.stores.redis import TURN_STREAM_TTL_S, turn_stream_key


@dataclass
class RecordUserMessageInput:
    company_id: str
    conversation_id: str
    turn_id: str
    content: str
    meta: dict = field(default_factory=dict)


@dataclass
class UserMessageRecorded:
    message_id: str
    seq: int
    previous_turn_id: str | None
    conversation_status: str


@dataclass
class TurnRef:
    company_id: str
    conversation_id: str
    turn_id: str


@dataclass
class RecordReplyInput:
    company_id: str
    conversation_id: str
    turn_id: str
    # None when the bot must not answer (a human owns the conversation).
    content: str | None
    citations: list[dict] = field(default_factory=list)
    meta: dict = field(default_factory=dict)
    # The notice of the turn that opened the human queue: recorded although the conversation is
    # now escalated (any other bot reply then is dropped).
    handoff: bool = False
    # Start the conversation's summary here when it is due, rather than as the turn's child
    # workflow (whose start the turn must wait for: two more workflow tasks, ~30 ms, before the
    # customer got the reply). False in histories from before this existed.
    start_summary: bool = False


@dataclass
class ReplyRecorded:
    message_id: str | None
    next_turn_id: str | None
    needs_summary: bool


class ConversationActivities:
    def __init__(  # type: ignore[no-untyped-def]
        self, db: Database, redis, settings: Settings, temporal: Client | None = None
    ) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.temporal = temporal  # to start a conversation's summary workflow

    @activity.defn
    async def record_user_message(self, params: RecordUserMessageInput) -> UserMessageRecorded:
        async with self.db.session() as session:
            recorded = await turns.record_user_message(
                session,
                uuid.UUID(params.company_id),
                uuid.UUID(params.conversation_id),
                params.turn_id,
                params.content,
                params.meta,
            )
        return UserMessageRecorded(
            message_id=recorded.message_id,
            seq=recorded.seq,
            previous_turn_id=recorded.previous_turn_id,
            conversation_status=recorded.conversation_status,
        )

    async def _start_summary(self, company_id: str, conversation_id: str) -> None:
        """One summary at a time per conversation (its id); best effort: when it cannot start,
        the next turn asks again, and the context window still holds the last N messages."""
        from activities.models import SummariseInput
        from workflows.chat_turn import turn_search_attributes
        from workflows.summary import SummariseConversationWorkflow

        if self.temporal is None:
            return
        try:
            await self.temporal.start_workflow(
                SummariseConversationWorkflow.run,
                SummariseInput(company_id, conversation_id),
                id=f"summary-{conversation_id}",
                task_queue=self.settings.task_queue,
                search_attributes=turn_search_attributes(company_id, conversation_id, "summary"),
            )
        except WorkflowAlreadyStartedError:
            pass
        except RPCError as err:
            activity.logger.warning("could not start the conversation summary: %s", err)

    @activity.defn
    async def is_turn_completed(self, turn_id: str) -> bool:
        async with self.db.session() as session:
            return await turns.is_turn_completed(session, turn_id)

    @activity.defn
    async def record_reply(self, params: RecordReplyInput) -> ReplyRecorded:
        async with self.db.session() as session:
            recorded = await turns.record_reply(
                session,
                uuid.UUID(params.company_id),
                uuid.UUID(params.conversation_id),
                params.turn_id,
                params.content,
                params.citations,
                params.meta,
                self.settings.context_messages,
                self.settings.summary_every,
                handoff=params.handoff,
            )
        # Publish after the commit: a reader that sees "done" finds the reply in the database.
        # A retry publishes again; readers stop at the first "done".
        key = turn_stream_key(params.turn_id)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.xadd(key, {"type": "message", "message_id": recorded.message_id or ""})
            pipe.xadd(key, {"type": "done"})
            pipe.expire(key, TURN_STREAM_TTL_S)
            await pipe.execute()
        if recorded.message_id:
            from helpdeck.services.live_feed import publish_bot_reply

            await publish_bot_reply(self.redis, self.db, recorded.message_id)
        if params.start_summary and recorded.needs_summary:
            await self._start_summary(params.company_id, params.conversation_id)
        return ReplyRecorded(
            message_id=recorded.message_id,
            next_turn_id=recorded.next_turn_id,
            needs_summary=recorded.needs_summary,
        )
