"""When Helpdeck disables an endpoint (410 Gone, or about three days of failures), the company
is told: the API shows it disabled with the reason, and a `webhook.disabled` event is recorded
once and delivered, signed, to the company's other endpoint subscribed to it.

Local receivers on 127.0.0.1 (tests.webhooks.receiver) stand in for the customer's endpoints;
signatures are checked with the `standardwebhooks` package. The three days of retries run on
Temporal's time-skipping test server; the notice itself travels through the session's real
server (outbox trigger, relay, delivery workflow).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlmodel import select
from standardwebhooks import Webhook
from temporalio.testing import WorkflowEnvironment

from activities.webhooks import DeliveryInput
from helpdeck.services.webhook_dispatch import delivery_workflow_id
from helpdeck.tables import Event, WebhookDelivery
from tests.conftest import Api, Tenant
from tests.webhooks.receiver import Receiver
from tests.webhooks.support import eventually
from tests.webhooks.test_retry_schedule import _replay, _runtime_on, skipping_env  # noqa: F401 (fixture)
from worker import build_worker
from workflows.webhooks import WebhookDeliveryWorkflow


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with Receiver() as failing, Receiver() as watcher:
        yield failing, watcher


async def _hook(tenant: Tenant, url: str, events: list[str]) -> dict:
    made = await tenant.client.post("/v1/webhooks", json={"url": url, "events": events})
    assert made.status_code == 201, made.text
    return dict(made.json())


async def _disabled_events(api: Api, tenant: Tenant) -> list[Event]:
    async with api.runtime.db.session() as session:
        rows = await session.exec(
            select(Event).where(Event.company_id == uuid.UUID(tenant.id), Event.kind == "webhook.disabled")
        )
        return list(rows)


async def _signed_notices(watcher: Receiver, secret: str) -> list[dict]:
    notices = [Webhook(secret).verify(r.body, r.headers) for r in watcher.requests if r.answered == 200]
    return [n for n in notices if n["type"] == "webhook.disabled"]


async def test_an_endpoint_failing_for_three_days_is_disabled_and_the_company_is_notified(
    api: Api, tenant: Tenant, receivers: tuple[Receiver, Receiver], skipping_env: WorkflowEnvironment  # noqa: F811
) -> None:
    failing, watcher = receivers
    failing.answer(500)
    hook = await _hook(tenant, failing.url(), ["message.created"])
    watch = await _hook(tenant, watcher.url(), ["webhook.disabled"])
    async with api.runtime.db.session() as session:  # a delivery to the failing endpoint
        delivery = WebhookDelivery(
            company_id=uuid.UUID(tenant.id), endpoint_id=uuid.UUID(hook["id"]), event_id=uuid.uuid4(),
            event_kind="webhook.ping", event_created_at=datetime.now(UTC), payload={"hello": "there"},
            workflow_started=True,
        )  # fmt: skip
        session.add(delivery)
        await session.commit()

    async with build_worker(skipping_env.client, _runtime_on(api, "webhooks-disabled-notice", skipping_env)):
        handle = await skipping_env.client.start_workflow(
            WebhookDeliveryWorkflow.run,
            DeliveryInput(tenant.id, str(delivery.id)),
            id=delivery_workflow_id(hook["id"], delivery.event_id),
            task_queue="webhooks-disabled-notice",
        )
        result = await handle.result()
        history = await handle.fetch_history()
    assert (result.status, result.attempts) == ("failed", 12)

    shown = (await tenant.client.get(f"/v1/webhooks/{hook['id']}")).json()
    assert shown["disabled"] is True and shown["disabled_reason"] == "failing" and shown["disabled_at"]
    events = await _disabled_events(api, tenant)
    assert len(events) == 1
    assert events[0].payload["webhook_id"] == hook["id"] and events[0].payload["reason"] == "failing"
    assert events[0].payload["failed_delivery_id"] == str(delivery.id) and events[0].payload["attempts"] == 12
    assert events[0].payload["last_status_code"] == 500

    notices = await eventually(lambda: _signed_notices(watcher, watch["secret"]))
    assert len(notices) == 1
    assert notices[0]["data"]["webhook_id"] == hook["id"] and notices[0]["data"]["url"] == failing.url()
    assert len(failing.requests) == 12  # the disabled endpoint is not sent its own notice
    await _replay([history])


async def test_a_410_disables_at_once_and_notifies_once_even_when_two_deliveries_hear_it(
    api: Api, tenant: Tenant, receivers: tuple[Receiver, Receiver]
) -> None:
    gone, watcher = receivers
    gone.answer(410)
    hook = await _hook(tenant, gone.url(), ["message.created"])
    watch = await _hook(tenant, watcher.url(), ["webhook.disabled"])
    pings = await asyncio.gather(*(tenant.client.post(f"/v1/webhooks/{hook['id']}/test") for _ in range(2)))
    assert {p.status_code for p in pings} <= {202, 409} and pings[0].status_code == 202

    notices = await eventually(lambda: _signed_notices(watcher, watch["secret"]))
    assert notices[0]["data"]["reason"] == "gone" and notices[0]["data"]["last_status_code"] == 410
    shown = (await tenant.client.get(f"/v1/webhooks/{hook['id']}")).json()
    assert shown["disabled"] is True and shown["disabled_reason"] == "gone"

    async def all_pings_finished() -> bool:
        listed = (await tenant.client.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
        accepted = sum(1 for p in pings if p.status_code == 202)
        return len(listed) == accepted and all(d["status"] != "pending" for d in listed)

    await eventually(all_pings_finished)
    assert len(await _disabled_events(api, tenant)) == 1

    # Re-enabled by the company, then gone again: a second notice.
    assert (await tenant.client.patch(f"/v1/webhooks/{hook['id']}", json={"disabled": False})).status_code == 200
    assert (await tenant.client.post(f"/v1/webhooks/{hook['id']}/test")).status_code == 202
    await eventually(lambda: _at_least(api, tenant, 2))
    assert len(await eventually(lambda: _two_notices(watcher, watch["secret"]))) == 2


async def _at_least(api: Api, tenant: Tenant, count: int) -> bool:
    return len(await _disabled_events(api, tenant)) >= count


async def _two_notices(watcher: Receiver, secret: str) -> list[dict]:
    found = await _signed_notices(watcher, secret)
    return found if len(found) >= 2 else []
