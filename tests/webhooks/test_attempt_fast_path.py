"""The one-statement paths of a delivery attempt (`claim_ready_attempt`, `record_delivered`)
take only the common case, and hand every other case to the step-by-step path that says why.

Rows are written straight into the real embedded PostgreSQL, marked started so the running
relay leaves them alone; no request is sent (the paths under test stop short of it).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from standardwebhooks import Webhook

from helpdeck.channels.crypto import SecretBox
from helpdeck.safe_http import PostOutcome
from helpdeck.services import webhook_dispatch as dispatch
from helpdeck.services import webhooks
from helpdeck.services.events import add_event
from helpdeck.services.webhook_signing import signed_headers
from helpdeck.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import Api, Tenant

OK = PostOutcome(status_code=204, latency_ms=3, error="")


async def _endpoint(api: Api, tenant: Tenant) -> tuple[WebhookEndpoint, str]:
    async with api.runtime.db.session() as session:
        return await webhooks.create_endpoint(
            session, SecretBox(api.settings.secret_key), uuid.UUID(tenant.id),
            "http://127.0.0.1:9/fast-path", ["message.created"], "", allow_private=True,
        )  # fmt: skip


async def _line(api: Api, tenant: Tenant, endpoint: WebhookEndpoint, count: int) -> list[uuid.UUID]:
    """`count` pending deliveries of one conversation at `endpoint`, oldest first."""
    conversation, start = uuid.uuid4(), datetime.now(UTC) - timedelta(minutes=1)
    rows = [
        WebhookDelivery(
            company_id=uuid.UUID(tenant.id), endpoint_id=endpoint.id, event_id=uuid.uuid4(),
            event_kind="message.created", conversation_id=conversation,
            event_created_at=start + timedelta(seconds=n), payload={"seq": n + 1}, workflow_started=True,
        )  # fmt: skip
        for n in range(count)
    ]
    async with api.runtime.db.session() as session:
        session.add_all(rows)
        await session.commit()
        return [r.id for r in rows]


async def _event_delivery(api: Api, tenant: Tenant, endpoint: WebhookEndpoint, keep_event: bool) -> uuid.UUID:
    """A delivery without its own payload copy (as the relay makes them): the event row has it.
    Of a kind the endpoint does not subscribe to, so the running relay makes no delivery of it."""
    async with api.runtime.db.session() as session:
        event = add_event(session, uuid.UUID(tenant.id), "document.ready", {"seq": 7})
        delivery = WebhookDelivery(
            company_id=event.company_id, endpoint_id=endpoint.id, event_id=event.id, event_kind=event.kind,
            event_created_at=event.created_at, workflow_started=True,
        )  # fmt: skip
        session.add(delivery)
        await session.commit()
        if not keep_event:
            await session.delete(event)
            await session.commit()
        return delivery.id


async def _row(api: Api, delivery_id: uuid.UUID) -> WebhookDelivery:
    async with api.runtime.db.session() as session:
        return (await session.exec(select(WebhookDelivery).where(WebhookDelivery.id == delivery_id))).one()


async def test_a_ready_delivery_is_claimed_in_one_statement_and_its_request_verifies(api: Api, tenant: Tenant) -> None:
    endpoint, secret = await _endpoint(api, tenant)
    (only,) = await _line(api, tenant, endpoint, 1)
    box, company = SecretBox(api.settings.secret_key), uuid.UUID(tenant.id)
    async with api.runtime.db.session() as session:
        request = await dispatch.claim_ready_attempt(session, box, company, only, 0, 0, check_order=True)
    assert isinstance(request, dispatch.Request)
    now = int(datetime.now(UTC).timestamp())
    headers = signed_headers(request.headers_secrets, request.webhook_id, now, request.body)
    envelope = Webhook(secret).verify(request.body, headers)
    assert envelope["type"] == "message.created" and envelope["data"] == {"seq": 1}
    assert envelope["company_id"] == tenant.id and request.webhook_id == f"evt_{uuid.UUID(envelope['id']).hex}"
    assert (await _row(api, only)).lease_until is not None
    # A delivery without its own copy of the payload sends the event's.
    from_event = await _event_delivery(api, tenant, endpoint, keep_event=True)
    async with api.runtime.db.session() as session:
        request = await dispatch.claim_ready_attempt(session, box, company, from_event, 0, 0, check_order=True)
    assert isinstance(request, dispatch.Request) and json.loads(request.body)["data"] == {"seq": 7}
    # The lease is held: the one-statement path declines, the step-by-step path says "busy".
    async with api.runtime.db.session() as session:
        assert await dispatch.claim_ready_attempt(session, box, company, only, 0, 0, check_order=True) is None
        assert isinstance(await dispatch.prepare_attempt(session, box, company, only, 0, 0), dispatch.Busy)


async def test_the_one_statement_claim_declines_every_case_the_step_by_step_path_explains(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    endpoint, _ = await _endpoint(api, tenant)
    head, second = await _line(api, tenant, endpoint, 2)
    box, company = SecretBox(api.settings.secret_key), uuid.UUID(tenant.id)

    async def claim(delivery: uuid.UUID, check_order: bool = True, number: int = 0, owner: uuid.UUID = company):  # type: ignore[no-untyped-def]
        async with api.runtime.db.session() as session:
            return await dispatch.claim_ready_attempt(session, box, owner, delivery, 0, number, check_order)

    # Behind a pending head: blocked when order counts, and the lease is left alone.
    assert await claim(second) is None
    async with api.runtime.db.session() as session:
        assert await dispatch.is_blocked(session, company, second)
    assert (await _row(api, second)).lease_until is None
    # Another company's delivery id is not found.
    assert await claim(head, owner=uuid.UUID(other_tenant.id)) is None
    # An attempt already recorded (a retried activity): declined; the step-by-step path says None.
    async with api.runtime.db.session() as session:
        session.add(WebhookAttempt(company_id=company, delivery_id=head, run=0, number=0, status_code=500))
        await session.commit()
        assert await claim(head) is None
        assert await dispatch.prepare_attempt(session, box, company, head, 0, 0) is None
    # A replay's run number that is not the delivery's: declined ("superseded" on the long path).
    async with api.runtime.db.session() as session:
        assert await dispatch.claim_ready_attempt(session, box, company, head, 3, 1, False) is None
    # Neither a payload copy nor the event row: declined; the long path fails it and says why.
    lost = await _event_delivery(api, tenant, endpoint, keep_event=False)
    assert await claim(lost) is None
    async with api.runtime.db.session() as session:
        assert await dispatch.prepare_attempt(session, box, company, lost, 0, 0) == dispatch.Finished("failed")
    assert (await _row(api, lost)).last_error == "the event is no longer stored"
    # A disabled endpoint: declined; the long path fails the delivery with the reason.
    async with api.runtime.db.session() as session:
        await session.exec(  # type: ignore[call-overload]
            update(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint.id)
            .values(disabled_at=datetime.now(UTC), disabled_reason="manual")
        )  # fmt: skip
        await session.commit()
    assert await claim(head, number=1) is None
    async with api.runtime.db.session() as session:
        assert await dispatch.prepare_attempt(session, box, company, head, 0, 1) == dispatch.Finished("failed")


async def test_recording_a_2xx_finishes_the_delivery_and_hands_the_next_in_line_to_the_relay(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    endpoint, _ = await _endpoint(api, tenant)
    head, second, third = await _line(api, tenant, endpoint, 3)
    box, company = SecretBox(api.settings.secret_key), uuid.UUID(tenant.id)
    async with api.runtime.db.session() as session:
        assert isinstance(await dispatch.claim_ready_attempt(session, box, company, head, 0, 0, True), dispatch.Request)
    # Another company cannot record it: nothing is written, not even the attempt.
    async with api.runtime.db.session() as session:
        assert not await dispatch.record_delivered(session, uuid.UUID(other_tenant.id), head, 0, 0, OK)
        assert (await session.exec(select(WebhookAttempt).where(WebhookAttempt.delivery_id == head))).first() is None

    async with api.runtime.db.session() as session:
        assert await dispatch.record_delivered(session, company, head, 0, 0, OK)
    done = await _row(api, head)
    assert (done.status, done.attempts, done.last_status_code, done.lease_until) == ("delivered", 1, 204, None)
    assert done.delivered_at is not None
    # Only the next one of the line goes back to the relay (workflow_started false); the third waits.
    assert not (await _row(api, second)).workflow_started
    assert (await _row(api, third)).workflow_started
    async with api.runtime.db.session() as session:
        attempts = list(await session.exec(select(WebhookAttempt).where(WebhookAttempt.delivery_id == head)))
        touched = await session.get(WebhookEndpoint, endpoint.id)
    assert [(a.number, a.status_code, a.latency_ms) for a in attempts] == [(0, 204, 3)]
    assert touched is not None and touched.last_success_at is not None
    # Once finished, the one-statement path declines (the step-by-step path handles it) and
    # writes nothing: no second attempt row.
    async with api.runtime.db.session() as session:
        assert not await dispatch.record_delivered(session, company, head, 0, 0, OK)
        assert len(list(await session.exec(select(WebhookAttempt).where(WebhookAttempt.delivery_id == head)))) == 1
    assert (await _row(api, head)).attempts == 1
