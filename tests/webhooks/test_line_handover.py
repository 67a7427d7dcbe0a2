"""A conversation's later events wait in the database, not in running workflows: the relay
starts only the head of each (endpoint, conversation) line, and each delivery starts the next
when it finishes. Real stack; a local receiver on 127.0.0.1 stands in for the customer's
endpoint; signatures checked with the `standardwebhooks` package.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import col, select
from standardwebhooks import Webhook
from temporalio.api.enums.v1 import EventType

from helpdeck.services import webhook_dispatch as dispatch
from helpdeck.services.events import add_event
from helpdeck.services.webhook_runner import start_delivery
from helpdeck.tables import WebhookDelivery
from tests.conftest import Api, Tenant, new_conversation
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import eventually


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


async def _register(tenant: Tenant, receiver: Receiver) -> dict:
    made = await tenant.client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["message.created"]})
    assert made.status_code == 201, made.text
    return dict(made.json())


async def _deliveries(api: Api, endpoint_id: str) -> list[WebhookDelivery]:
    async with api.runtime.db.session() as session:
        rows = await session.exec(
            select(WebhookDelivery)
            .where(WebhookDelivery.endpoint_id == uuid.UUID(endpoint_id))
            .order_by(col(WebhookDelivery.event_created_at), col(WebhookDelivery.event_id))
        )
        return list(rows)


async def _write_events(api: Api, tenant: Tenant, conversation: uuid.UUID, count: int) -> None:
    async with api.runtime.db.session() as session:
        for seq in range(1, count + 1):
            add_event(session, uuid.UUID(tenant.id), "message.created",
                      {"conversation_id": str(conversation), "seq": seq}, conversation_id=conversation)  # fmt: skip
        await session.commit()


async def test_the_events_behind_a_retried_head_start_only_after_it_is_delivered_and_in_order(
    api: Api, tenant: Tenant, receiver: Receiver
) -> None:
    receiver.answer_next(503)  # the first event fails once; its retry comes 5 s later
    hook = await _register(tenant, receiver)
    conversation = uuid.UUID(await new_conversation(tenant, user_id="line"))
    await _write_events(api, tenant, conversation, 4)

    await eventually(lambda: len(receiver.accepted()) == 4, timeout_s=60)
    seqs = [Webhook(hook["secret"]).verify(r.body, r.headers)["data"]["seq"] for r in receiver.accepted()]
    assert seqs == [1, 2, 3, 4]
    assert [r.payload["data"]["seq"] for r in receiver.requests] == [1, 1, 2, 3, 4]  # nothing skipped the line
    # The receiver answers before the delivery's row says so: wait for the record, not the request.
    async def all_delivered() -> list[WebhookDelivery] | None:
        rows = await _deliveries(api, hook["id"])
        return rows if all(d.status == "delivered" for d in rows) else None

    rows = await eventually(all_delivered, timeout_s=30)
    # Each delivery's workflow was started after the one before it was delivered (same
    # machine clock), and never had to wait for it (no timer, no signal).
    described = [await _describe(api, r) for r in rows]
    for before, after in zip(rows, described[1:], strict=False):
        assert before.delivered_at is not None and after.start_time >= before.delivered_at
    for row in rows[1:]:
        history = await api.runtime.temporal.get_workflow_handle(_workflow_id(row)).fetch_history()
        kinds = {e.event_type for e in history.events}
        assert EventType.EVENT_TYPE_TIMER_STARTED not in kinds
        assert EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED not in kinds


def _workflow_id(row: WebhookDelivery) -> str:
    return dispatch.delivery_workflow_id(row.endpoint_id, row.event_id)


async def _describe(api: Api, row: WebhookDelivery):  # type: ignore[no-untyped-def]
    return await api.runtime.temporal.get_workflow_handle(_workflow_id(row)).describe()


async def _all_handed(api: Api, endpoint_id: str, count: int) -> list[WebhookDelivery] | None:
    rows = await _deliveries(api, endpoint_id)
    return rows if len(rows) == count and all(r.workflow_started for r in rows) else None


async def test_a_handed_over_delivery_whose_predecessor_vanished_is_found_by_the_relays_sweep(
    api: Api, tenant: Tenant, receiver: Receiver
) -> None:
    """The safety net: if the delivery before it ends without starting it (its workflow lost),
    the sweep finds the line's new head; starting it twice is harmless."""
    receiver.answer(503)
    hook = await _register(tenant, receiver)
    conversation = uuid.UUID(await new_conversation(tenant, user_id="sweep"))
    await _write_events(api, tenant, conversation, 2)
    head, second = await eventually(lambda: _all_handed(api, hook["id"], 2))
    async with api.runtime.db.session() as session:  # the head ends behind the workflows' back
        await session.exec(update(WebhookDelivery).where(col(WebhookDelivery.id) == head.id).values(status="failed"))
        await session.commit()
        stalled = await dispatch.stalled_heads(session, idle_for=timedelta(0))
    mine = [r for r in stalled if r.conversation_id == str(conversation)]
    assert [r.delivery_id for r in mine] == [str(second.id)]
    receiver.answer(200)
    await start_delivery(api.runtime.temporal, api.settings.task_queue, mine[0])
    assert not await start_delivery(api.runtime.temporal, api.settings.task_queue, mine[0])  # same id: no-op
    await eventually(lambda: [r for r in receiver.accepted() if r.payload["data"]["seq"] == 2])
    assert [r.payload["data"]["seq"] for r in receiver.accepted()] == [2]
