"""EscalationWorkflow: one per escalated conversation, the human agent queue's source of truth.

The story: learn the company's SLA and hours; if nobody is on duty, tell the customer when to
expect an answer; then wait. Agents act through updates (claim, message, release, resolve)
whose validators consult this workflow's state, so two agents can never both claim it. Until
an agent first answers, an SLA timer re-notifies and raises the priority each time it expires.
Activities mirror every change into the escalations table and publish it to the live queue.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.channels import ChannelActivities, EscalationNoticeInput
    from activities.escalation import (
        AgentMessageInput,
        AssistInput,
        ClaimRecordInput,
        EscalationActivities,
        EscalationRef,
        ReleaseRecordInput,
        ResolutionInput,
        SlaBreachInput,
        SlaPlanInput,
        SystemMessageInput,
    )
    from helpdeck.escalation_policy import (
        HIGHEST_PRIORITY,
        EscalationPolicy,
        after_hours_message,
        next_opening,
    )

DB_STEP = dict(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
)
# Update handlers write through regular activities, never local ones: a regular activity runs
# only after the workflow task that accepted the update is in history, so an update whose
# (speculative) task is lost leaves no side effect behind; a local activity would.
UPDATE_STEP = dict(
    start_to_close_timeout=timedelta(seconds=15),
    retry_policy=RetryPolicy(initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=10)),
)
ASSIST_STEP = dict(
    start_to_close_timeout=timedelta(seconds=60),
    retry_policy=RetryPolicy(maximum_attempts=3, initial_interval=timedelta(seconds=1)),
)
NOTICE_STEP: dict[str, Any] = dict(
    start_to_close_timeout=timedelta(seconds=30),
    retry_policy=RetryPolicy(
        initial_interval=timedelta(seconds=1),
        maximum_interval=timedelta(seconds=10),
        maximum_attempts=5,
        non_retryable_error_types=["ChannelRejected"],
    ),
)
# Escalations opened by code that knows this patch also notify the Slack agents' channel.
SLACK_NOTICE_PATCH = "escalation-slack-agents-notice"
# After this many re-notifications the escalation stays queued at top priority, silently.
MAX_SLA_BREACHES = 10


@dataclass
class EscalationState:
    status: str = "waiting"  # waiting | claimed | resolved
    claimed_by: str | None = None
    priority: int = 3
    awaiting_response: bool = True  # no agent has answered since the customer started waiting
    due_at: str | None = None  # ISO time the SLA expires (None: no timer running)
    breaches: int = 0
    after_hours_until: str | None = None  # the opening we already told the customer about


@dataclass
class EscalationInput:
    company_id: str
    conversation_id: str
    escalation_id: str
    priority: int = 3
    # Carried across continue-as-new; None on the first run.
    state: EscalationState | None = None


@dataclass
class ClaimRequest:
    user_id: str
    user_name: str = ""


@dataclass
class AgentMessageRequest:
    user_id: str
    content: str
    user_name: str = ""


@dataclass
class ReleaseRequest:
    user_id: str | None
    is_manager: bool = False


@dataclass
class ResolveRequest:
    user_id: str | None
    is_manager: bool = False
    resolution: str = ""
    hand_back_to_bot: bool = False


@dataclass
class EscalationOutcome:
    escalation_id: str
    status: str
    breaches: int = 0


def _reject(code: str, message: str) -> ApplicationError:
    # The type is the stable problem code the API returns (409).
    return ApplicationError(message, type=code, non_retryable=True)


@workflow.defn
class EscalationWorkflow:
    def __init__(self) -> None:
        self._state = EscalationState()
        self._changed = False
        self._policy: EscalationPolicy | None = None
        self._ref: EscalationRef | None = None
        # One write at a time, in the order the workflow decided, so the mirror row never
        # sees a release land after the claim that followed it.
        self._writes = asyncio.Lock()

    @workflow.query
    def state(self) -> EscalationState:
        return self._state

    @workflow.run
    async def run(self, params: EscalationInput) -> EscalationOutcome:
        self._ref = EscalationRef(params.company_id, params.escalation_id)
        self._state = params.state or EscalationState(priority=params.priority)
        self._policy = await workflow.execute_local_activity_method(
            EscalationActivities.load_escalation_policy, self._ref, **DB_STEP
        )
        if params.state is None:
            await self._start_sla_clock(workflow.now())
            if workflow.patched(SLACK_NOTICE_PATCH):
                await self._notify_agents_channel()
        while self._state.status != "resolved":
            if workflow.info().is_continue_as_new_suggested():
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(
                    EscalationInput(
                        params.company_id,
                        params.conversation_id,
                        params.escalation_id,
                        self._state.priority,
                        self._state,
                    )
                )
            await self._wait_for_change_or_deadline()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return EscalationOutcome(params.escalation_id, self._state.status, self._state.breaches)

    # --- the SLA clock -------------------------------------------------------------------

    async def _start_sla_clock(self, now: datetime) -> None:
        """Due N minutes from now, or N minutes after opening when nobody is on duty now."""
        assert self._policy is not None and self._ref is not None
        minutes = timedelta(minutes=self._policy.first_response_minutes)
        opening = next_opening(self._policy, now)
        if opening is None:
            self._state.due_at = (now + minutes).isoformat()
            sla_state = "breached" if self._state.breaches else "on_track"
        else:
            self._state.due_at = (opening + minutes).isoformat()
            sla_state = "after_hours"
            await self._tell_customer_when(opening)
        async with self._writes:
            await workflow.execute_local_activity_method(
                EscalationActivities.record_sla_plan, SlaPlanInput(self._ref, sla_state, self._state.due_at), **DB_STEP
            )

    async def _notify_agents_channel(self) -> None:
        """A notice with a Claim button in the company's Slack agents' channel, if it has one.
        Best effort: a Slack outage never holds up the queue, which agents also see in the console."""
        assert self._ref is not None
        try:
            await workflow.execute_activity_method(
                ChannelActivities.post_escalation_notice,
                EscalationNoticeInput(self._ref.company_id, self._ref.escalation_id),
                **NOTICE_STEP,
            )
        except ActivityError:
            workflow.logger.warning("the Slack agents' channel could not be notified")

    async def _tell_customer_when(self, opening: datetime) -> None:
        assert self._policy is not None and self._ref is not None
        if self._state.after_hours_until == opening.isoformat():
            return  # already told about this opening
        self._state.after_hours_until = opening.isoformat()
        async with self._writes:
            await workflow.execute_activity_method(
                EscalationActivities.post_system_message,
                SystemMessageInput(
                    self._ref, str(workflow.uuid4()), after_hours_message(self._policy, opening), "after_hours"
                ),
                **DB_STEP,
            )

    async def _wait_for_change_or_deadline(self) -> None:
        self._changed = False
        due = self._state.due_at
        if not (self._state.awaiting_response and due and self._state.breaches < MAX_SLA_BREACHES):
            await workflow.wait_condition(lambda: self._changed)
            return
        remaining = datetime.fromisoformat(due) - workflow.now()
        if remaining > timedelta(0):
            try:
                await workflow.wait_condition(lambda: self._changed, timeout=remaining)
                return
            except TimeoutError:
                pass
        if self._state.status == "resolved" or not self._state.awaiting_response or self._state.due_at != due:
            return  # something changed while the timer fired
        await self._sla_expired()

    async def _sla_expired(self) -> None:
        """Nobody answered in time: when off duty, wait for opening; otherwise re-notify and raise."""
        assert self._policy is not None and self._ref is not None
        now = workflow.now()
        opening = next_opening(self._policy, now)
        if opening is not None:
            await self._start_sla_clock(now)
            return
        self._state.breaches += 1
        self._state.priority = max(HIGHEST_PRIORITY, self._state.priority - 1)
        self._state.due_at = (now + timedelta(minutes=self._policy.first_response_minutes)).isoformat()
        async with self._writes:
            await workflow.execute_local_activity_method(
                EscalationActivities.record_sla_breach,
                SlaBreachInput(self._ref, self._state.breaches, self._state.priority, self._state.due_at),
                **DB_STEP,
            )

    # --- what agents do ---------------------------------------------------------------------

    @workflow.update
    async def claim(self, request: ClaimRequest) -> str:
        # Set before the first await: the next claim's validator already sees it taken.
        self._state.status, self._state.claimed_by = "claimed", request.user_id
        self._changed = True
        assert self._ref is not None
        now = workflow.now().isoformat()
        async with self._writes:
            await workflow.execute_activity_method(
                EscalationActivities.record_claim, ClaimRecordInput(self._ref, request.user_id, now), **UPDATE_STEP
            )
        try:
            await workflow.execute_activity_method(
                EscalationActivities.prepare_assist, AssistInput(self._ref, request.user_name), **ASSIST_STEP
            )
        except ActivityError:
            workflow.logger.warning("agent assist failed; the claim stands without it")
        return request.user_id

    @claim.validator
    def _validate_claim(self, request: ClaimRequest) -> None:
        if self._state.status == "claimed":
            raise _reject("already_claimed", "another agent has already claimed this escalation")
        if self._state.status == "resolved":
            raise _reject("already_resolved", "this escalation is resolved")

    @workflow.update
    async def send_message(self, request: AgentMessageRequest) -> str:
        assert self._ref is not None
        message_id = str(workflow.uuid4())
        if self._state.awaiting_response:
            self._state.awaiting_response = False  # the first response stops the SLA clock
            self._changed = True
        async with self._writes:
            await workflow.execute_activity_method(
                EscalationActivities.record_agent_message,
                AgentMessageInput(
                    self._ref,
                    message_id,
                    request.user_id,
                    request.user_name,
                    request.content,
                    workflow.now().isoformat(),
                ),
                **UPDATE_STEP,
            )
        return message_id

    @send_message.validator
    def _validate_message(self, request: AgentMessageRequest) -> None:
        self._require_owner(request.user_id, is_manager=False)

    @workflow.update
    async def release(self, request: ReleaseRequest) -> None:
        assert self._ref is not None and self._policy is not None
        now = workflow.now()
        self._state.status, self._state.claimed_by = "waiting", None
        if not self._state.awaiting_response:
            # The customer waits for a person again: a fresh first-response clock.
            self._state.awaiting_response = True
            self._state.due_at = (now + timedelta(minutes=self._policy.first_response_minutes)).isoformat()
        self._changed = True
        async with self._writes:
            await workflow.execute_activity_method(
                EscalationActivities.record_release,
                ReleaseRecordInput(self._ref, request.user_id, now.isoformat(), self._state.due_at),
                **UPDATE_STEP,
            )

    @release.validator
    def _validate_release(self, request: ReleaseRequest) -> None:
        self._require_owner(request.user_id, request.is_manager)

    @workflow.update
    async def resolve(self, request: ResolveRequest) -> None:
        assert self._ref is not None
        self._state.status = "resolved"
        self._changed = True
        async with self._writes:
            await workflow.execute_activity_method(
                EscalationActivities.record_resolution,
                ResolutionInput(
                    self._ref, request.user_id, request.resolution, request.hand_back_to_bot, workflow.now().isoformat()
                ),
                **UPDATE_STEP,
            )

    @resolve.validator
    def _validate_resolve(self, request: ResolveRequest) -> None:
        if self._state.status == "resolved":
            raise _reject("already_resolved", "this escalation is already resolved")
        if self._state.status == "claimed" and self._state.claimed_by != request.user_id and not request.is_manager:
            raise _reject("claimed_by_another_agent", "another agent owns this escalation")

    def _require_owner(self, user_id: str | None, is_manager: bool) -> None:
        if self._state.status == "resolved":
            raise _reject("already_resolved", "this escalation is resolved")
        if self._state.status != "claimed":
            raise _reject("not_claimed", "claim this escalation first")
        if self._state.claimed_by != user_id and not is_manager:
            raise _reject("claimed_by_another_agent", "another agent owns this escalation")
