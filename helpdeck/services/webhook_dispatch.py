"""The database side of webhook delivery: outbox → deliveries, ordering, and each attempt.

Every function is safe to run twice (activities retry): deliveries are unique per (endpoint,
event), attempts per (delivery, run, number), and a finished delivery is never sent again by the
run that finished it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, literal_column, or_, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.channels.crypto import SecretBox
from helpdeck.safe_http import PostOutcome
from helpdeck.services import webhook_signing
from helpdeck.services.events import add_event
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
    return [_ref(d) for d in rows]


async def undelivered_count(session: AsyncSession) -> int:
    """Deliveries neither delivered nor given up: running, waiting to retry, waiting in their
    line (no workflow yet) or not yet started by the relay. Served by a partial index."""
    count = await session.exec(
        select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "pending")
    )
    return int(count.one())


async def mark_started(session: AsyncSession, delivery_ids: list[str]) -> None:
    if delivery_ids:
        await _flag_started(session, delivery_ids)
        await session.commit()


async def _flag_started(session: AsyncSession, delivery_ids: Iterable[str]) -> None:
    """Take deliveries off the relay's list (their workflow started, or they wait in their line);
    the caller commits."""
    await session.exec(  # type: ignore[call-overload]
        update(WebhookDelivery)
        .where(col(WebhookDelivery.id).in_([uuid.UUID(i) for i in delivery_ids]))
        .values(workflow_started=True)
    )


def _earlier(delivery: WebhookDelivery):  # type: ignore[no-untyped-def]
    return tuple_(col(WebhookDelivery.event_created_at), col(WebhookDelivery.event_id)) < tuple_(
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


def _ref(d: WebhookDelivery) -> DeliveryRef:
    return DeliveryRef(
        str(d.company_id),
        str(d.id),
        delivery_workflow_id(d.endpoint_id, d.event_id, d.runs),
        d.runs,
        str(d.conversation_id) if d.conversation_id else None,
    )


async def hand_over_to_lines(session: AsyncSession, refs: list[DeliveryRef]) -> list[DeliveryRef]:
    """Of these unstarted first deliveries, the heads of their lines (nothing earlier of the
    conversation pending at that endpoint), which the relay starts now. The others are marked
    started and handed to their line: the delivery before each gives it back to the relay when
    it finishes (`_release_next_in_line`), so no delivery's workflow runs only to wait."""
    first_runs = [uuid.UUID(r.delivery_id) for r in refs if r.run == 0 and r.conversation_id]
    if not first_runs:
        return refs
    waiting = aliased(WebhookDelivery)
    earlier = aliased(WebhookDelivery)
    queued = await session.exec(  # type: ignore[call-overload]
        select(waiting.id).where(
            col(waiting.id).in_(first_runs),
            select(earlier.id)
            .where(
                earlier.endpoint_id == waiting.endpoint_id,
                earlier.conversation_id == waiting.conversation_id,
                earlier.status == "pending",
                tuple_(col(earlier.event_created_at), col(earlier.event_id))
                < tuple_(col(waiting.event_created_at), col(waiting.event_id)),
                col(earlier.created_at) > datetime.now(UTC) - STUCK_AFTER,
            )
            .exists(),
        )
    )
    queued_ids = {str(row) for row in queued}
    if queued_ids:
        await _flag_started(session, queued_ids)
    await session.commit()
    return [r for r in refs if r.delivery_id not in queued_ids]


async def stalled_heads(session: AsyncSession, idle_for: timedelta, limit: int = 200) -> list[DeliveryRef]:
    """The safety net of the hand-over: first deliveries never attempted, idle for a while, with
    nothing earlier pending in their line (their predecessor's workflow could not start them).
    Starting them again is harmless: a running workflow keeps its id."""
    now = datetime.now(UTC)
    waiting = aliased(WebhookDelivery)
    earlier = aliased(WebhookDelivery)
    rows = await session.exec(
        select(waiting)
        .where(
            waiting.status == "pending",
            col(waiting.runs) == 0,
            col(waiting.attempts) == 0,
            col(waiting.workflow_started).is_(True),
            col(waiting.updated_at) < now - idle_for,
            ~select(earlier.id)
            .where(
                earlier.endpoint_id == waiting.endpoint_id,
                earlier.conversation_id == waiting.conversation_id,
                earlier.status == "pending",
                tuple_(col(earlier.event_created_at), col(earlier.event_id))
                < tuple_(col(waiting.event_created_at), col(waiting.event_id)),
                col(earlier.created_at) > now - STUCK_AFTER,
            )
            .exists(),
        )
        .order_by(col(waiting.created_at))
        .limit(limit)
    )
    found = [_ref(d) for d in rows]
    await session.rollback()
    return found


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


def envelope(delivery: Any, payload: dict) -> bytes:
    """The versioned body every endpoint receives (documented in docs/webhooks.md); `delivery` is
    a WebhookDelivery or a row with its event_kind, event_id, event_created_at and company_id."""
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
        return Finished("gone")
    if delivery.runs != run:
        return Finished("superseded")  # a newer replay owns this delivery now
    if delivery.status != "pending":  # finished by an earlier execution of this attempt
        await _release_next_in_line(session, delivery)
        return Finished(delivery.status)
    recorded = await session.exec(
        select(WebhookAttempt.id).where(
            WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.run == run, WebhookAttempt.number == number
        )
    )
    if recorded.first() is not None:
        return None
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None:
        return Finished("gone")
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


async def claim_ready_attempt(
    session: AsyncSession,
    box: SecretBox,
    company_id: uuid.UUID,
    delivery_id: uuid.UUID,
    run: int,
    number: int,
    check_order: bool,
) -> Request | None:
    """The common case of `is_blocked` + `prepare_attempt` in one statement: take the lease of a
    pending delivery whose endpoint is enabled, whose attempt is not recorded yet and (with
    `check_order`) with nothing earlier pending in its line, returning what to send. None when
    any of that is not so: the caller then asks the step-by-step path, which says why."""
    deliveries, endpoints = WebhookDelivery.__table__, WebhookEndpoint.__table__  # type: ignore[attr-defined]
    events, attempts = Event.__table__, WebhookAttempt.__table__  # type: ignore[attr-defined]
    earlier = deliveries.alias("earlier")
    now = datetime.now(UTC)
    event_payload = select(events.c.payload).where(events.c.id == deliveries.c.event_id).scalar_subquery()
    # The delivery's own copy (kept when the event row is not); a Python None is stored as JSON null.
    own_payload = func.nullif(deliveries.c.payload, literal_column("'null'::jsonb"))
    conditions = [
        deliveries.c.id == delivery_id,
        deliveries.c.company_id == company_id,
        deliveries.c.status == "pending",
        deliveries.c.runs == run,
        or_(deliveries.c.lease_until.is_(None), deliveries.c.lease_until < now),
        endpoints.c.id == deliveries.c.endpoint_id,
        endpoints.c.disabled_at.is_(None),
        or_(own_payload.is_not(None), exists().where(events.c.id == deliveries.c.event_id)),
        ~exists().where(attempts.c.delivery_id == delivery_id, attempts.c.run == run, attempts.c.number == number),
    ]
    if check_order:  # the condition of `is_blocked`
        conditions.append(
            ~exists().where(
                earlier.c.endpoint_id == deliveries.c.endpoint_id,
                earlier.c.conversation_id == deliveries.c.conversation_id,
                earlier.c.status == "pending",
                tuple_(earlier.c.event_created_at, earlier.c.event_id)
                < tuple_(deliveries.c.event_created_at, deliveries.c.event_id),
                earlier.c.created_at > now - STUCK_AFTER,
            )
        )
    claimed = (
        await session.execute(
            update(deliveries)
            .where(*conditions)
            .values(lease_until=now + LEASE)
            .returning(
                deliveries.c.event_id,
                deliveries.c.event_kind,
                deliveries.c.event_created_at,
                deliveries.c.company_id,
                endpoints.c.url,
                endpoints.c.sealed_secrets,
                func.coalesce(own_payload, event_payload).label("payload"),
            )
        )
    ).first()
    if claimed is None:
        await session.rollback()
        return None
    await session.commit()
    active = [s.secret for s in webhook_signing.unseal(box, claimed.sealed_secrets) if s.active(now)]
    return Request(claimed.url, active, webhook_id_for(claimed.event_id), envelope(claimed, claimed.payload))


async def _finish(
    session: AsyncSession, delivery: WebhookDelivery, status: str, error: str, run: int
) -> Finished:
    delivery.status = status
    delivery.last_error = error[:500]
    delivery.next_attempt_at = None
    delivery.lease_until = None
    delivery.updated_at = datetime.now(UTC)
    session.add(delivery)
    await session.commit()
    await _release_next_in_line(session, delivery)  # a replay (run > 0) held its line too
    return Finished(status)


async def _release_next_in_line(session: AsyncSession, delivery: Any) -> None:
    """Give the next delivery of the line back to the relay, which starts it as the line's new
    head. After this delivery's commit: a delivery the relay inserts meanwhile is either seen
    here, or sees this one finished and is started by the relay directly. Safe to repeat.
    `delivery` is a WebhookDelivery or a row with its endpoint, conversation and event keys."""
    if delivery.conversation_id is not None:
        deliveries = WebhookDelivery.__table__  # type: ignore[attr-defined]
        following = (  # the line's next delivery still to be made (a replay is not in the line)
            select(deliveries.c.id)
            .where(
                deliveries.c.endpoint_id == delivery.endpoint_id,
                deliveries.c.conversation_id == delivery.conversation_id,
                deliveries.c.status == "pending",
                deliveries.c.runs == 0,
                tuple_(deliveries.c.event_created_at, deliveries.c.event_id)
                > tuple_(delivery.event_created_at, delivery.event_id),
            )
            .order_by(deliveries.c.event_created_at, deliveries.c.event_id)
            .limit(1)
            .scalar_subquery()
        )
        await session.execute(
            update(deliveries)
            .where(deliveries.c.id == following, deliveries.c.status == "pending")
            .values(workflow_started=False)
        )
    await session.commit()


def _attempt_row(
    company_id: uuid.UUID, delivery_id: uuid.UUID, run: int, number: int, outcome: PostOutcome, now: datetime
):  # type: ignore[no-untyped-def]
    """The attempt's log row; a retried activity's second insert of the same attempt does nothing."""
    return (
        insert(WebhookAttempt)
        .values(
            id=uuid.uuid4(), company_id=company_id, delivery_id=delivery_id, run=run, number=number,
            attempted_at=now, status_code=outcome.status_code, latency_ms=outcome.latency_ms,
            error=outcome.error[:500],
        )
        .on_conflict_do_nothing(constraint="uq_webhook_attempts_run_number")
    )


async def record_delivered(
    session: AsyncSession,
    company_id: uuid.UUID,
    delivery_id: uuid.UUID,
    run: int,
    number: int,
    outcome: PostOutcome,
) -> bool:
    """`record_attempt` for a 2xx answer, in one statement plus the line's hand-over: log the
    attempt, finish the delivery, and refresh the endpoint's coarse last-success time. False
    (nothing written) when the delivery is not this run's pending one or its endpoint is gone:
    the caller then asks `record_attempt`, which handles those cases."""
    deliveries, endpoints = WebhookDelivery.__table__, WebhookEndpoint.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    logged = _attempt_row(company_id, delivery_id, run, number, outcome, now).cte("logged")
    touched = (  # no row lock is waited for: a coarse time, written by whichever delivery is first
        update(endpoints)
        .where(
            endpoints.c.id == select(deliveries.c.endpoint_id).where(deliveries.c.id == delivery_id).scalar_subquery(),
            or_(
                endpoints.c.last_success_at.is_(None),
                endpoints.c.last_success_at < now - LAST_SUCCESS_GRANULARITY,
            ),
        )
        .values(last_success_at=now)
        .cte("touched")
    )
    finished = (
        await session.execute(
            update(deliveries)
            .add_cte(logged)
            .add_cte(touched)
            .where(
                deliveries.c.id == delivery_id,
                deliveries.c.company_id == company_id,
                deliveries.c.status == "pending",
                deliveries.c.runs == run,
                endpoints.c.id == deliveries.c.endpoint_id,
            )
            .values(
                status="delivered", attempts=deliveries.c.attempts + 1, last_status_code=outcome.status_code,
                last_error="", delivered_at=now, next_attempt_at=None, lease_until=None,
                updated_at=now,
            )
            .returning(
                deliveries.c.endpoint_id,
                deliveries.c.conversation_id,
                deliveries.c.event_created_at,
                deliveries.c.event_id,
            )
        )
    ).first()
    if finished is None:
        await session.rollback()  # the attempt row and the endpoint's time with it
        return False
    await session.commit()
    await _release_next_in_line(session, finished)
    return True


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
        return Finished("gone")
    # No row lock on the endpoint: every delivery to it would queue behind it. Its two writes
    # below are idempotent (disable once; a coarse last-success time).
    endpoint = await session.get(WebhookEndpoint, delivery.endpoint_id)
    if endpoint is None:
        return Finished("gone")
    now = datetime.now(UTC)
    await session.exec(_attempt_row(company_id, delivery_id, run, number, outcome, now))  # type: ignore[call-overload]
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
        await _disable(session, endpoint, delivery, "gone", "the endpoint answered 410 Gone", now)
        return await _finish(session, delivery, "failed", "the endpoint answered 410 Gone", run)
    if retry_in is None:
        first_try = await session.exec(
            select(WebhookAttempt.attempted_at)
            .where(WebhookAttempt.delivery_id == delivery_id, WebhookAttempt.run == run)
            .order_by(col(WebhookAttempt.number))
            .limit(1)
        )
        since = first_try.first() or now
        error = delivery.last_error or f"HTTP {code}"
        if endpoint.last_success_at is None or endpoint.last_success_at < since:
            await _disable(session, endpoint, delivery, "failing", error, now)
        return await _finish(session, delivery, "failed", error, run)
    delivery.next_attempt_at = now + retry_in
    delivery.lease_until = None
    delivery.updated_at = now
    session.add(delivery)
    await session.commit()
    return None


async def _disable(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    delivery: WebhookDelivery,
    reason: str,
    error: str,
    now: datetime,
) -> None:
    """Disable the endpoint once (a conditional update: of two deliveries failing together,
    one does it) and tell the company: the flag and reason show in GET /v1/webhooks/{id} and
    the dashboard, and a `webhook.disabled` event, in the same transaction, goes to the
    company's other endpoints subscribed to it."""
    disabled = await session.exec(  # type: ignore[call-overload]
        update(WebhookEndpoint)
        .where(col(WebhookEndpoint.id) == endpoint.id, col(WebhookEndpoint.disabled_at).is_(None))
        .values(disabled_at=now, disabled_reason=reason, updated_at=now)
        .returning(col(WebhookEndpoint.id))
    )
    if disabled.first() is None:
        return
    log.warning("webhook %s of company %s disabled (%s)", endpoint.id, endpoint.company_id, reason)
    add_event(
        session,
        endpoint.company_id,
        "webhook.disabled",
        {
            "webhook_id": str(endpoint.id),
            "url": endpoint.url,
            "reason": reason,
            "disabled_at": now.isoformat(),
            "last_success_at": endpoint.last_success_at.isoformat() if endpoint.last_success_at else None,
            "failed_delivery_id": str(delivery.id),
            "failed_event_id": str(delivery.event_id),
            "failed_event_type": delivery.event_kind,
            "attempts": delivery.attempts,
            "last_status_code": delivery.last_status_code,
            "last_error": error[:500],
        },
    )
