"""From a verified platform request to a durable turn plus the workflow that will post its reply.

Both starts happen before the platform gets its acknowledgement: if we crash in between, the
platform retries, and both starts are idempotent (ids derived from the platform's event id).
"""

from __future__ import annotations

import hashlib
import uuid

from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from helpdeck.channels.store import InboundTurn
from helpdeck.runtime import Runtime
from helpdeck.services.turn_runner import embed_question_ahead, start_turn
from workflows.channel_reply import ChannelReplyInput, ChannelReplyWorkflow, reply_workflow_id
from workflows.chat_turn import turn_search_attributes

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
