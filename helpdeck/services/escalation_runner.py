"""Starting an escalation's workflow and sending it agents' actions, from the API or a turn.

The workflow id is derived from the escalation (`escalation-{escalation_id}`); the database's
row lock on the conversation makes sure a conversation has at most one open escalation, so a
second request to escalate attaches to the running one. A rejected update becomes a 409 with
the workflow's stable code (already_claimed, not_claimed, ...).
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from typing import Any

import redis.asyncio as aioredis
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from helpdeck.errors import Conflict, HelpdeckError
from helpdeck.services import escalations
from helpdeck.services.queue_feed import publish_queue_change
from helpdeck.tables import Escalation
from workflows.chat_turn import turn_search_attributes
from workflows.escalation import EscalationInput, EscalationWorkflow

log = logging.getLogger(__name__)
BUSY_STATUSES = frozenset({RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE, RPCStatusCode.ABORTED})
BUSY_RETRIES = 8

# Codes the workflow's validators reject with; anything else is not the caller's fault.
REJECTION_CODES = frozenset({"already_claimed", "already_resolved", "not_claimed", "claimed_by_another_agent"})


class EscalationUnavailable(HelpdeckError):
    status, code, title = 503, "escalation_unavailable", "The queue could not complete this action"


def escalation_workflow_id(escalation_id: uuid.UUID | str) -> str:
    return f"escalation-{escalation_id}"


async def start_escalation_workflow(client: Client, task_queue: str, row: Escalation, eager: bool = False) -> None:
    """Start the escalation's workflow, or attach to it when it runs already."""
    try:
        await client.start_workflow(
            EscalationWorkflow.run,
            EscalationInput(str(row.company_id), str(row.conversation_id), str(row.id), row.priority),
            id=escalation_workflow_id(row.id),
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=turn_search_attributes(str(row.company_id), str(row.conversation_id), "escalation"),
            static_summary=f"escalation of conversation {row.conversation_id}",
            request_eager_start=eager,
        )
    except WorkflowAlreadyStartedError:
        pass  # finished already (resolved): nothing to start


async def open_and_start(
    session: AsyncSession,
    redis: aioredis.Redis,
    client: Client,
    task_queue: str,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    category: str,
    reason: str,
    priority: int,
    opened_by: str,
    eager: bool,
) -> tuple[Escalation, bool]:
    """Escalate a conversation (or find its open escalation) and make sure its workflow runs."""
    row, created = await escalations.open_escalation(
        session, company_id, conversation_id, category, reason, priority, opened_by
    )
    if created:
        # Before the start, so consoles see "opened" before the workflow's own changes.
        await publish_queue_change(redis, "opened", row)
    # Also for an existing row: a crash between the commit and the start is repaired here.
    await start_escalation_workflow(client, task_queue, row, eager)
    return row, created


async def update_escalation(
    client: Client, task_queue: str, row: Escalation, update: Any, arg: Any, update_id: str | None = None
) -> Any:
    """Run one of the workflow's updates; its validators decide whether the action is allowed.

    With an `update_id`, a second call with the same id gets the first one's outcome (Temporal
    deduplicates updates by id), which is how a retried activity claims once.

    A burst of updates on one workflow (twenty agents claiming at once) can exceed the server's
    in-flight update limit; those calls wait briefly and try again, so each still gets the
    workflow's own answer (usually 409 already_claimed) instead of an error.
    """
    handle = client.get_workflow_handle(escalation_workflow_id(row.id))
    started_missing = False
    for attempt in range(BUSY_RETRIES + 1):
        try:
            return await handle.execute_update(update, arg, id=update_id)
        except WorkflowUpdateFailedError as exc:
            cause = exc.cause
            if isinstance(cause, ApplicationError) and cause.type in REJECTION_CODES:
                raise Conflict(cause.message, code=cause.type) from exc
            log.warning("escalation update failed: %s", cause)
            raise EscalationUnavailable("the escalation's workflow could not complete the action") from exc
        except RPCError as exc:
            if exc.status in BUSY_STATUSES and attempt < BUSY_RETRIES:
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0) * (0.5 + random.random()))
                continue
            if exc.status != RPCStatusCode.NOT_FOUND:
                log.warning("escalation update: workflow service error %s: %s", exc.status, exc.message)
                raise EscalationUnavailable("the workflow service is busy or not reachable; try again") from exc
            if row.status == "resolved" or started_missing:
                raise Conflict("this escalation is resolved", code="already_resolved") from exc
            # The row exists but its workflow never started (a crash in between): start it now.
            await start_escalation_workflow(client, task_queue, row)
            started_missing = True
    raise EscalationUnavailable("the escalation's workflow is too busy; try again")
