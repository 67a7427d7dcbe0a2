"""SLA timers of the EscalationWorkflow on Temporal's time-skipping test server, with the real
activities and database: an unanswered escalation is re-notified and climbs in priority; the
first agent reply stops the clock; out of hours the customer is told when to expect an answer
and the clock starts only when the team is on duty."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import col, select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from helpdeck.services import escalations
from helpdeck.tables import Escalation, Event, Message
from tests.conftest import Api, Tenant, make_tenant, new_conversation
from tests.escalations.support import make_agent
from worker import build_worker
from workflows.escalation import AgentMessageRequest, ClaimRequest, EscalationInput, EscalationWorkflow


def _runtime_on(api: Api, task_queue: str):  # type: ignore[no-untyped-def]
    return dataclasses.replace(api.runtime, settings=api.settings.model_copy(update={"task_queue": task_queue}))


async def _start(api: Api, env: WorkflowEnvironment, tenant: Tenant, task_queue: str) -> tuple[str, WorkflowHandle]:
    conversation = await new_conversation(tenant)
    async with api.runtime.db.session() as session:
        row, _ = await escalations.open_escalation(
            session, uuid.UUID(tenant.id), uuid.UUID(conversation), "complaint", "angry", 3, "test"
        )
    handle = await env.client.start_workflow(
        EscalationWorkflow.run,
        EscalationInput(tenant.id, conversation, str(row.id), 3),
        id=f"escalation-{row.id}",
        task_queue=task_queue,
    )
    return str(row.id), handle


async def _row(api: Api, escalation_id: str) -> Escalation:
    async with api.runtime.db.session() as session:
        row = await session.get(Escalation, uuid.UUID(escalation_id))
    assert row is not None
    return row


async def _until_breaches(handle: WorkflowHandle, env: WorkflowEnvironment, n: int) -> None:
    """Advance time a minute at a time until the workflow has counted n breaches."""
    for _ in range(60):
        if (await handle.query(EscalationWorkflow.state)).breaches >= n:
            return
        await env.sleep(timedelta(minutes=1))
    raise AssertionError(f"no {n} breaches")


async def test_an_unanswered_escalation_is_renotified_and_raised_in_priority(
    api: Api, tenant: Tenant, skipping_env: WorkflowEnvironment
) -> None:
    async with build_worker(skipping_env.client, _runtime_on(api, "sla-1")):
        escalation_id, handle = await _start(api, skipping_env, tenant, "sla-1")
        await skipping_env.sleep(timedelta(minutes=4))
        assert (await handle.query(EscalationWorkflow.state)).breaches == 0
        await _until_breaches(handle, skipping_env, 2)
        state = await handle.query(EscalationWorkflow.state)
    assert state.priority == 1 and state.status == "waiting"
    row = await _row(api, escalation_id)
    assert row.sla_state == "breached" and row.priority == 1 and row.sla_breaches >= 2
    async with api.runtime.db.session() as session:
        kinds = list(await session.exec(select(Event.kind).where(Event.conversation_id == row.conversation_id)))
    assert kinds.count("escalation.sla_breached") >= 2


async def test_the_first_agent_reply_stops_the_clock_but_a_claim_alone_does_not(
    api: Api, tenant: Tenant, skipping_env: WorkflowEnvironment
) -> None:
    agent = await make_agent(api, tenant, name="Kim")
    async with build_worker(skipping_env.client, _runtime_on(api, "sla-2")):
        escalation_id, handle = await _start(api, skipping_env, tenant, "sla-2")
        await handle.execute_update(EscalationWorkflow.claim, ClaimRequest(agent.id, "Kim"))
        await _until_breaches(handle, skipping_env, 1)  # claimed, but nobody answered
        await handle.execute_update(EscalationWorkflow.send_message, AgentMessageRequest(agent.id, "On it!", "Kim"))
        await skipping_env.sleep(timedelta(hours=2))
        state = await handle.query(EscalationWorkflow.state)
    assert state.breaches == 1 and state.awaiting_response is False
    row = await _row(api, escalation_id)
    assert row.first_response_at is not None and row.sla_breaches == 1
    await agent.client.aclose()


async def test_out_of_hours_the_customer_is_told_when_and_the_clock_waits_for_opening(
    api: Api, admin: httpx.AsyncClient, skipping_env: WorkflowEnvironment
) -> None:
    now = await skipping_env.get_current_time()
    tomorrow = (now.astimezone(UTC) + timedelta(days=1)).date()
    hours = {"timezone": "UTC", "days": [tomorrow.weekday()], "start": "09:00", "end": "17:00"}
    company = await make_tenant(
        api, admin, settings={"escalation": {"first_response_minutes": 10, "business_hours": hours}}
    )
    opening = datetime(tomorrow.year, tomorrow.month, tomorrow.day, 9, 0, tzinfo=UTC)
    async with build_worker(skipping_env.client, _runtime_on(api, "sla-3")):
        escalation_id, handle = await _start(api, skipping_env, company, "sla-3")
        for _ in range(100):
            if (await _row(api, escalation_id)).sla_state == "after_hours":
                break
            await asyncio.sleep(0.05)
        row = await _row(api, escalation_id)
        assert row.sla_due_at == opening + timedelta(minutes=10)
        async with api.runtime.db.session() as session:
            system = list(
                await session.exec(
                    select(Message).where(Message.conversation_id == row.conversation_id).order_by(col(Message.seq))
                )
            )
        assert [m.role for m in system] == ["system"]
        assert opening.strftime("%A") + " 09:00 (UTC)" in system[0].content
        # Nothing is dropped or breached overnight; it breaches only 10 minutes after opening.
        await skipping_env.sleep(opening - await skipping_env.get_current_time() + timedelta(minutes=9))
        assert (await handle.query(EscalationWorkflow.state)).breaches == 0
        await _until_breaches(handle, skipping_env, 1)
        assert (await _row(api, escalation_id)).status == "waiting"
    await company.client.aclose()
