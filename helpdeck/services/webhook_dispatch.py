"""The database side of webhook delivery: outbox → deliveries, ordering, and each attempt.

Every function is safe to run twice (activities retry): deliveries are unique per (endpoint,
event), attempts per (delivery, run, number), and a finished delivery is never sent again by the
run that finished it.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.channels.crypto import SecretBox
from helpdeck.safe_http import PostOutcome
from helpdeck.services import webhook_signing
from helpdeck.tables import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookOutbox

log = logging.getLogger(__name__)
ENVELOPE_VERSION = 1


def delivery_workflow_id(endpoint_id: uuid.UUID | str, event_id: uuid.UUID | str, run: int = 0) -> str:
    """Derived from event and endpoint: starting it twice finds the same workflow."""
    base = f"webhook-delivery-{endpoint_id}-{event_id}"
    return base if run == 0 else f"{base}-replay-{run}"


def webhook_id_for(event_id: uuid.UUID) -> str:
    return f"evt_{event_id.hex}"


@dataclass(frozen=True)
class DeliveryRef:
    company_id: str
    delivery_id: str
    workflow_id: str
    run: int
    conversation_id: str | None = None


async def relay_outbox(session: AsyncSession, limit: int = 500) -> int:
    """Turn the oldest outbox rows into deliveries (one per subscribed, enabled endpoint) and
    remove them, in one transaction; rows another relay holds are skipped."""
    outbox = list(
        await session.exec(
            select(WebhookOutbox)
            .order_by(col(WebhookOutbox.created_at), col(WebhookOutbox.event_id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not outbox:
        await session.rollback()
        return 0
    event_ids = [row.event_id for row in outbox]
    events = list(await session.exec(select(Event).where(col(Event.id).in_(event_ids))))
    endpoints = list(
        await session.exec(
            select(WebhookEndpoint).where(
                col(WebhookEndpoint.company_id).in_({e.company_id for e in events}),
                col(WebhookEndpoint.disabled_at).is_(None),
            )
        )
    )
    now = datetime.now(UTC)
    rows = [
        {
            "id": uuid.uuid4(),
            "company_id": event.company_id,
            "endpoint_id": endpoint.id,
            "event_id": event.id,
            "event_kind": event.kind,
            "conversation_id": event.conversation_id,
            "event_created_at": event.created_at,
            "status": "pending",
            "attempts": 0,
            "runs": 0,
            "workflow_started": False,
            "last_error": "",
            "created_at": now,
            "updated_at": now,
        }
        for event in sorted(events, key=lambda e: (e.created_at, e.id))
        for endpoint in endpoints
        if endpoint.company_id == event.company_id and event.kind in endpoint.events
    ]
    if rows:
        await session.exec(  # type: ignore[call-overload]
            insert(WebhookDelivery).values(rows).on_conflict_do_nothing(constraint="uq_webhook_deliveries_endpoint_event")
        )
    await session.exec(delete(WebhookOutbox).where(col(WebhookOutbox.event_id).in_(event_ids)))  # type: ignore[call-overload]
    await session.commit()
    return len(outbox)


async def unstarted_deliveries(session: AsyncSession, limit: int = 500) -> list[DeliveryRef]:
    rows = await session.exec(
        select(WebhookDelivery)
        .where(col(WebhookDelivery.workflow_started).is_(False))
        .order_by(col(WebhookDelivery.created_at))
        .limit(limit)
    )
    return [
        DeliveryRef(
            str(d.company_id),
            str(d.id),
            delivery_workflow_id(d.endpoint_id, d.event_id, d.runs),
            d.runs,
            str(d.conversation_id) if d.conversation_id else None,
        )
        for d in rows
    ]


async def mark_started(session: AsyncSession, delivery_ids: list[str]) -> None:
    if delivery_ids:
        await session.exec(  # type: ignore[call-overload]
            update(WebhookDelivery)
            .where(col(WebhookDelivery.id).in_([uuid.UUID(i) for i in delivery_ids]))
            .values(workflow_started=True)
        )
        await session.commit()


def _earlier(delivery: WebhookDelivery):  # type: ignore[no-untyped-def]
    return tuple_(col(WebhookDelivery.event_created_at), col(WebhookDelivery.event_id)) < tuple_(
        delivery.event_created_at, delivery.event_id
    )


def _later(delivery: WebhookDelivery):  # type: ignore[no-untyped-def]
    return tuple_(col(WebhookDelivery.event_created_at), col(WebhookDelivery.event_id)) > tuple_(
        delivery.event_created_at, delivery.event_id
    )


async def is_blocked(session: AsyncSession, company_id: uuid.UUID, delivery_id: uuid.UUID) -> bool:
    """True while an earlier event of the same conversation is still pending at this endpoint."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.company_id != company_id or delivery.conversation_id is None:
        return False
    earlier = await session.exec(
        select(WebhookDelivery.id)
        .where(
            WebhookDelivery.endpoint_id == delivery.endpoint_id,
            WebhookDelivery.conversation_id == delivery.conversation_id,
            WebhookDelivery.status == "pending",
            _earlier(delivery),
            # A delivery cannot rightly be pending longer than its schedule: never wait on one
            # that is stuck (its workflow lost), or the conversation would stall for good.
            col(WebhookDelivery.created_at) > datetime.now(UTC) - STUCK_AFTER,
        )
        .limit(1)
    )
    return earlier.first() is not None


async def _next_in_line(session: AsyncSession, delivery: WebhookDelivery) -> str | None:
    if delivery.conversation_id is None:
        return None
    following = (
        await session.exec(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.endpoint_id == delivery.endpoint_id,
                WebhookDelivery.conversation_id == delivery.conversation_id,
                WebhookDelivery.status == "pending",
                col(WebhookDelivery.runs) == 0,
                _later(delivery),
            )
            .order_by(col(WebhookDelivery.event_created_at), col(WebhookDelivery.event_id))
            .limit(1)
        )
    ).first()
    return delivery_workflow_id(following.endpoint_id, following.event_id) if following else None


@dataclass(frozen=True)
class Request:
    url: str
    headers_secrets: list[str]
    webhook_id: str
    body: bytes


@dataclass(frozen=True)
class Busy:
    """Another execution of this attempt holds the delivery's lease (a re-executed activity)."""


STUCK_AFTER = timedelta(days=4)  # the retry schedule spans about 2.8 days
LEASE = timedelta(seconds=60)
# last_success_at is written at most this often: one write per endpoint, not one per delivery.
LAST_SUCCESS_GRANULARITY = timedelta(seconds=10)  # longer than the longest request (resolve + connect + read)


@dataclass(frozen=True)
class Finished:
    status: str  # delivered | failed | gone (the delivery no longer exists) | superseded
    next_workflow_id: str | None


def envelope(delivery: WebhookDelivery, payload: dict) -> bytes:
    """The versioned body every endpoint receives (documented in docs/webhooks.md)."""
    body = {
        "type": delivery.event_kind,
        "version": ENVELOPE_VERSION,
        "id": str(delivery.event_id),
        "timestamp": delivery.event_created_at.isoformat(),
        "company_id": str(delivery.company_id),
        "data": payload,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


async def prepare_attempt(
    session: AsyncSession, box: SecretBox, company_id: uuid.UUID, delivery_id: uuid.UUID, run: int, number: int
) -> Request | Finished | Busy | None:
    """What to send for this attempt; Finished when nothing must be sent; None when this exact
    attempt was already made and recorded (the activity was retried after recording)."""
    delivery = await session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.company_id != company_id:
        return Finished("gone", None)
    if delivery.runs != run:
        return Finished("superseded", None)  # a newer replay owns this delivery now
    if delivery.status != "pending":
        return Finished(delivery.status, await _next_in_line(session, delivery) if run == 0 else None)
    recorded = await session.exec(
        select(WebhookAttempt.id).where(
            WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.run == run, WebhookAttempt.number == number
        )
    )
    if recorded.first() is not None:
        return None
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None:
        return Finished("gone", None)
    now = datetime.now(UTC)
    claimed = await session.exec(  # type: ignore[call-overload]
        update(WebhookDelivery)
        .where(
            col(WebhookDelivery.id) == delivery_id,
            col(WebhookDelivery.status) == "pending",
            col(WebhookDelivery.runs) == run,
            (col(WebhookDelivery.lease_until).is_(None)) | (col(WebhookDelivery.lease_until) < now),
        )
        .values(lease_until=now + LEASE)
        .returning(col(WebhookDelivery.id))
    )
    if claimed.first() is None:
        await session.rollback()
        return Busy()
    await session.commit()
    if endpoint.disabled_at is not None:
        return await _finish(session, delivery, "failed", f"webhook disabled ({endpoint.disabled_reason})", run)
    payload = delivery.payload
    if payload is None:
        event = await session.get(Event, delivery.event_id)
        if event is None:
            return await _finish(session, delivery, "failed", "the event is no longer stored", run)
        payload = event.payload
    active = [s.secret for s in webhook_signing.unseal(box, endpoint.sealed_secrets) if s.active(now)]
    request = Request(endpoint.url, active, webhook_id_for(delivery.event_id), envelope(delivery, payload))
    await session.rollback()  # hold no transaction while the request is in flight
    return request


async def _finish(
    session: AsyncSession, delivery: WebhookDelivery, status: str, error: str, run: int
) -> Finished:
    delivery.status = status
    delivery.last_error = error[:500]
    delivery.next_attempt_at = None
    delivery.lease_until = None
    delivery.updated_at = datetime.now(UTC)
    session.add(delivery)
    await session.flush()
    following = await _next_in_line(session, delivery) if run == 0 else None
    await session.commit()
    return Finished(status, following)


async def record_attempt(
    session: AsyncSession,
    company_id: uuid.UUID,
    delivery_id: uuid.UUID,
    run: int,
    number: int,
    outcome: PostOutcome,
    retry_in: timedelta | None,
) -> Finished | None:
    """Log the attempt and move the delivery on; None means "retry in `retry_in`"."""
    delivery = (
        await session.exec(
            select(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.company_id == company_id)
            .with_for_update()
        )
    ).first()
    if delivery is None:
        return Finished("gone", None)
    # No row lock on the endpoint: every delivery to it would queue behind it. Its two writes
    # below are idempotent (disable once; a coarse last-success time).
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None:
        return Finished("gone", None)
    now = datetime.now(UTC)
    await session.exec(  # type: ignore[call-overload]
        insert(WebhookAttempt)
        .values(
            id=uuid.uuid4(),
            company_id=company_id,
            delivery_id=delivery_id,
            run=run,
            number=number,
            attempted_at=now,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            error=outcome.error[:500],
        )
        .on_conflict_do_nothing(constraint="uq_webhook_attempts_run_number")
    )
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error[:500]
    code = outcome.status_code
    if code is not None and 200 <= code < 300:
        delivery.delivered_at = now
        if endpoint.last_success_at is None or now - endpoint.last_success_at > LAST_SUCCESS_GRANULARITY:
            await session.exec(  # type: ignore[call-overload]
                update(WebhookEndpoint).where(col(WebhookEndpoint.id) == endpoint.id).values(last_success_at=now)
            )
        return await _finish(session, delivery, "delivered", "", run)
    if code == 410:
        _disable(endpoint, "gone", now)
        session.add(endpoint)
        return await _finish(session, delivery, "failed", "the endpoint answered 410 Gone", run)
    if retry_in is None:
        first_try = await session.exec(
            select(WebhookAttempt.attempted_at)
            .where(WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.run == run)
            .order_by(col(WebhookAttempt.number))
            .limit(1)
        )
        since = first_try.first() or now
        if endpoint.last_success_at is None or endpoint.last_success_at < since:
            _disable(endpoint, "failing", now)
            session.add(endpoint)
        return await _finish(session, delivery, "failed", delivery.last_error or f"HTTP {code}", run)
    delivery.next_attempt_at = now + retry_in
    delivery.lease_until = None
    delivery.updated_at = now
    session.add(delivery)
    await session.commit()
    return None


def _disable(endpoint: WebhookEndpoint, reason: str, now: datetime) -> None:
    if endpoint.disabled_at is None:
        endpoint.disabled_at, endpoint.disabled_reason, endpoint.updated_at = now, reason, now
        # The flag is what the dashboard and GET /v1/webhooks show the company.
        log.warning("webhook %s of company %s disabled (%s)", endpoint.id, endpoint.company_id, reason)
