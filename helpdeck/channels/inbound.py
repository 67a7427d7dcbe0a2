"""From a verified platform request to a durable turn plus the workflow that will post its reply,
or to the workflow that handles a Claim button pressed in Slack.

Starts happen before the platform gets its acknowledgement: if we crash in between, the
platform retries, and the starts are idempotent (ids derived from the platform's event id or
from the press).
"""

from __future__ import annotations

import hashlib
import uuid

from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from activities.slack_claims import SlackClaimInput
from helpdeck.channels.slack import SlackAction
from helpdeck.channels.store import InboundTurn
from helpdeck.errors import IntakeUnavailable
from helpdeck.runtime import Runtime
from helpdeck.services.turn_runner import embed_question_ahead, start_turn
from workflows.channel_reply import ChannelReplyInput, ChannelReplyWorkflow, reply_workflow_id
from workflows.chat_turn import COMPANY_ATTR, KIND_ATTR, turn_search_attributes
from workflows.slack_claim import SlackClaimWorkflow, slack_claim_workflow_id

NONCE_TTL_S = 600  # longer than the five minutes a signed request stays fresh


async def first_sighting(runtime: Runtime, platform: str, company_id: uuid.UUID, signature: str) -> bool:
    """True the first time this exact signed request is seen; a replay within the window is not."""
    digest = hashlib.sha256(signature.encode()).hexdigest()
    key = f"channel:{platform}:{company_id}:seen:{digest}"
    return bool(await runtime.redis.set(key, "1", nx=True, ex=NONCE_TTL_S))


async def start_channel_turn(
    runtime: Runtime, company_id: uuid.UUID, inbound: InboundTurn, content: str, platform: str
) -> None:
    """Start (or find) the turn and its reply workflow; durable once this returns."""
    settings = runtime.settings
    embed_question_ahead(runtime, company_id, content)
    await start_turn(
        runtime.temporal,
        settings.task_queue,
        company_id,
        inbound.conversation_id,
        inbound.turn_id,
        content,
        platform,
        eager=runtime.worker_in_process,
    )
    try:
        await runtime.temporal.start_workflow(
            ChannelReplyWorkflow.run,
            ChannelReplyInput(str(company_id), inbound.turn_id),
            id=reply_workflow_id(inbound.turn_id),
            task_queue=settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=turn_search_attributes(str(company_id), str(inbound.conversation_id), "channel_reply"),
            static_summary=f"{platform} reply for turn {inbound.turn_id}",
            request_eager_start=runtime.worker_in_process,
        )
    except WorkflowAlreadyStartedError:
        pass  # already replied: a late retry of the platform's event


async def start_slack_claim(runtime: Runtime, company_id: uuid.UUID, press: SlackAction) -> str:
    """Start (or find) the workflow handling this Claim press; durable once this returns.

    Reuse is refused, so a redelivery after the press was handled starts nothing either.
    """
    params = SlackClaimInput(str(company_id), press)
    workflow_id = slack_claim_workflow_id(params)
    try:
        await runtime.temporal.start_workflow(
            SlackClaimWorkflow.run,
            params,
            id=workflow_id,
            task_queue=runtime.settings.task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(
                [SearchAttributePair(COMPANY_ATTR, str(company_id)), SearchAttributePair(KIND_ATTR, "slack_claim")]
            ),
            static_summary=f"Slack claim of escalation {press.value}",
            request_eager_start=runtime.worker_in_process,
        )
    except WorkflowAlreadyStartedError:
        pass  # handled already: a late redelivery of the same press
    except (RPCError, RuntimeError) as exc:  # RuntimeError: a lazily connected client that cannot connect
        raise IntakeUnavailable("the press could not be recorded; Slack will deliver it again") from exc
    return workflow_id
