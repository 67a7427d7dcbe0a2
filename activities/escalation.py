"""Activities of the human agent queue: every database write and live publication the
EscalationWorkflow makes, plus `open_escalation`, which a chat turn (or anyone) calls to hand a
conversation to a person. Each is idempotent, because Temporal will run some of them twice."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio import activity
from temporalio.client import Client

from helpdeck.db import Database
from helpdeck.escalation_policy import DEFAULT_PRIORITY, EscalationPolicy, policy_from_settings
from helpdeck.knowledge import Retriever
from helpdeck.providers.gateway import ModelGateway
from helpdeck.services import escalations
from helpdeck.services.agent_assist import build_assist
from helpdeck.services.queue_feed import publish_message, publish_queue_change
from helpdeck.settings import Settings
from helpdeck.tables import Company


@dataclass
class EscalationRef:
    company_id: str
    escalation_id: str


@dataclass
class OpenEscalationInput:
    company_id: str
    conversation_id: str
    category: str = "customer_request"
    reason: str = ""
    priority: int | None = None  # None: the category's default
    opened_by: str = "turn"


@dataclass
class OpenedEscalation:
    escalation_id: str
    created: bool  # False: the conversation already had an open escalation


@dataclass
class SlaPlanInput:
    ref: EscalationRef
    sla_state: str
    due_at: str | None


@dataclass
class SystemMessageInput:
    ref: EscalationRef
    message_id: str
    content: str
    kind: str


@dataclass
class ClaimRecordInput:
    ref: EscalationRef
    user_id: str
    at: str


@dataclass
class AssistInput:
    ref: EscalationRef
    agent_name: str


@dataclass
class AgentMessageInput:
    ref: EscalationRef
    message_id: str
    user_id: str
    user_name: str
    content: str
    at: str


@dataclass
class ReleaseRecordInput:
    ref: EscalationRef
    user_id: str | None
    at: str
    due_at: str | None


@dataclass
class SlaBreachInput:
    ref: EscalationRef
    breach_number: int
    priority: int
    due_at: str | None


@dataclass
class ResolutionInput:
    ref: EscalationRef
    user_id: str | None
    resolution: str
    hand_back_to_bot: bool
    at: str


def _ids(ref: EscalationRef) -> tuple[uuid.UUID, uuid.UUID]:
    return uuid.UUID(ref.company_id), uuid.UUID(ref.escalation_id)


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


class EscalationActivities:
    def __init__(  # type: ignore[no-untyped-def]
        self, db: Database, redis, settings: Settings, gateway: ModelGateway, knowledge: Retriever, temporal: Client
    ) -> None:
        self.db = db
        self.redis = redis
        self.settings = settings
        self.gateway = gateway
        self.knowledge = knowledge
        self.temporal = temporal

    @activity.defn
    async def open_escalation(self, params: OpenEscalationInput) -> OpenedEscalation:
        """Hand a conversation to the queue: status `escalated`, row and event in one
        transaction, then start (or attach to) its EscalationWorkflow."""
        from helpdeck.services.escalation_runner import open_and_start

        priority = params.priority or DEFAULT_PRIORITY.get(params.category, 3)
        async with self.db.session() as session:
            row, created = await open_and_start(
                session,
                self.redis,
                self.temporal,
                self.settings.task_queue,
                uuid.UUID(params.company_id),
                uuid.UUID(params.conversation_id),
                params.category,
                params.reason,
                priority,
                params.opened_by,
                eager=False,
            )
        return OpenedEscalation(str(row.id), created)

    @activity.defn
    async def load_escalation_policy(self, ref: EscalationRef) -> EscalationPolicy:
        async with self.db.session() as session:
            company = await session.get(Company, uuid.UUID(ref.company_id))
        settings = company.settings if company is not None else {}
        return policy_from_settings(settings, self.settings.escalation_first_response_minutes)

    @activity.defn
    async def record_sla_plan(self, params: SlaPlanInput) -> None:
        async with self.db.session() as session:
            row = await escalations.record_sla_plan(session, *_ids(params.ref), params.sla_state, _time(params.due_at))
        await publish_queue_change(self.redis, "sla", row)

    @activity.defn
    async def post_system_message(self, params: SystemMessageInput) -> None:
        async with self.db.session() as session:
            message, row = await escalations.append_message(
                session,
                *_ids(params.ref),
                uuid.UUID(params.message_id),
                "system",
                params.content,
                {"kind": params.kind},
                datetime.now(UTC),
            )
        await publish_message(self.redis, message, params.ref.escalation_id)
        await publish_queue_change(self.redis, params.kind, row)

    @activity.defn
    async def record_claim(self, params: ClaimRecordInput) -> None:
        async with self.db.session() as session:
            row = await escalations.record_claim(
                session, *_ids(params.ref), uuid.UUID(params.user_id), _time(params.at)
            )  # type: ignore[arg-type]
        await publish_queue_change(self.redis, "claimed", row)

    @activity.defn
    async def prepare_assist(self, params: AssistInput) -> None:
        company_id, escalation_id = _ids(params.ref)
        async with self.db.session() as session:
            assist = await build_assist(
                session, self.gateway, self.knowledge, company_id, escalation_id, params.agent_name
            )
            await escalations.store_assist(session, company_id, escalation_id, assist)

    @activity.defn
    async def record_agent_message(self, params: AgentMessageInput) -> None:
        meta = {"agent_id": params.user_id, "agent_name": params.user_name}
        async with self.db.session() as session:
            message, row = await escalations.append_message(
                session,
                *_ids(params.ref),
                uuid.UUID(params.message_id),
                "agent",
                params.content,
                meta,
                _time(params.at),  # type: ignore[arg-type]
            )
        await publish_message(self.redis, message, params.ref.escalation_id)
        await publish_queue_change(self.redis, "responded", row)

    @activity.defn
    async def record_release(self, params: ReleaseRecordInput) -> None:
        user_id = uuid.UUID(params.user_id) if params.user_id else None
        async with self.db.session() as session:
            row = await escalations.record_release(
                session, *_ids(params.ref), user_id, _time(params.at), _time(params.due_at)
            )  # type: ignore[arg-type]
        await publish_queue_change(self.redis, "released", row)

    @activity.defn
    async def record_sla_breach(self, params: SlaBreachInput) -> None:
        async with self.db.session() as session:
            row = await escalations.record_sla_breach(
                session, *_ids(params.ref), params.breach_number, params.priority, _time(params.due_at)
            )
        await publish_queue_change(self.redis, "sla_breached", row)

    @activity.defn
    async def record_resolution(self, params: ResolutionInput) -> None:
        user_id = uuid.UUID(params.user_id) if params.user_id else None
        async with self.db.session() as session:
            row = await escalations.record_resolution(
                session,
                *_ids(params.ref),
                user_id,
                params.resolution,
                params.hand_back_to_bot,
                _time(params.at),  # type: ignore[arg-type]
            )
        await publish_queue_change(self.redis, "resolved", row)

    def all(self) -> list:
        """Every activity of this class, for the worker's registration list."""
        return [
            self.open_escalation,
            self.load_escalation_policy,
            self.record_sla_plan,
            self.post_system_message,
            self.record_claim,
            self.prepare_assist,
            self.record_agent_message,
            self.record_release,
            self.record_sla_breach,
            self.record_resolution,
        ]
