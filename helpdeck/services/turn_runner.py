"""Starting a turn's workflow from the API, and finding the turn again on a retry.

The workflow id is derived from the company, the conversation and the client's Idempotency-Key,
so a retried request lands on the same workflow (and the same answer) instead of a new turn.
"""

from __future__ import annotations

import hashlib
import uuid

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from helpdeck.errors import Conflict, IntakeUnavailable, InvalidInput
from helpdeck.runtime import Runtime
from helpdeck.services.conversations import find_turn
from helpdeck.tables import Message
from workflows.chat_turn import ChatTurnWorkflow, TurnInput, TurnResult, turn_search_attributes


def turn_id_for(company_id: uuid.UUID, conversation_id: uuid.UUID, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        suffix = uuid.uuid4().hex
    else:
        if not idempotency_key or len(idempotency_key) > 255 or not idempotency_key.isprintable():
            raise InvalidInput("Idempotency-Key must be 1 to 255 printable characters", field="Idempotency-Key")
        suffix = hashlib.sha256(f"{company_id}:{conversation_id}:{idempotency_key}".encode()).hexdigest()[:32]
    return f"turn-{conversation_id}-{suffix}"


async def completed_turn(
    session: AsyncSession, company_id: uuid.UUID, turn_id: str, content: str
) -> tuple[Message, Message | None] | None:
    """A finished turn with this id, if there is one: its messages are the answer to a retry."""
    found = await find_turn(session, company_id, turn_id)
    if found is None:
        return None
    turn, user_message, reply = found
    if user_message.content != content:
        raise Conflict("this Idempotency-Key was already used for a different message", code="idempotency_key_reused")
    return (user_message, reply) if turn.status == "completed" else None


def embed_question_ahead(runtime: Runtime, company_id: uuid.UUID, content: str) -> None:
    """When the worker shares this process, start embedding the question as the turn starts:
    the embedding overlaps the turn's first steps and its retrieval step awaits the same
    computation (helpdeck/retrieval.py). A separate API process leaves it to the worker, which
    would otherwise compute it a second time."""
    prefetch = getattr(runtime.knowledge, "prefetch_query_vector", None)
    if runtime.worker_in_process and prefetch is not None:
        prefetch(str(company_id), content)


async def start_turn(
    client: Client,
    task_queue: str,
    company_id: uuid.UUID,
    conversation_id: uuid.UUID,
    turn_id: str,
    content: str,
    channel: str,
    eager: bool,
) -> WorkflowHandle[ChatTurnWorkflow, TurnResult]:
    """Start (or attach to) the turn's workflow. Once this returns, the message is durable."""
    try:
        return await client.start_workflow(
            ChatTurnWorkflow.run,
            TurnInput(str(company_id), str(conversation_id), turn_id, content, channel),
            id=turn_id,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=turn_search_attributes(str(company_id), str(conversation_id), "turn"),
            static_summary=f"turn in conversation {conversation_id}",
            request_eager_start=eager,
        )
    except WorkflowAlreadyStartedError:
        # Closed already (a retry after completion): its result is still there to read.
        return client.get_workflow_handle_for(ChatTurnWorkflow.run, turn_id)
    except (RPCError, RuntimeError) as exc:  # RuntimeError: a lazily connected client that cannot connect
        # Nothing is recorded before the workflow starts: a clear 503 the client can retry.
        raise IntakeUnavailable("the message could not be recorded; send it again") from exc
