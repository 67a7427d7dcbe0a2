"""A company's webhook endpoints and their delivery log: create, change, rotate, list, replay.

Secrets are returned only by creation and rotation; everything else shows the endpoint without
them. Every function is scoped by company: a foreign id is indistinguishable from an unknown one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from helpdeck.channels.crypto import SecretBox
from helpdeck.errors import Conflict, NotFound
from helpdeck.safe_http import check_url
from helpdeck.services import webhook_signing
from helpdeck.services.conversations import decode_cursor, encode_cursor
from helpdeck.tables import WebhookAttempt, WebhookDelivery, WebhookEndpoint

MAX_ENDPOINTS_PER_COMPANY = 50
PING_KIND = "webhook.ping"


@dataclass(frozen=True)
class DeliveryWithAttempts:
    delivery: WebhookDelivery
    attempts: list[WebhookAttempt]


def _now() -> datetime:
    return datetime.now(UTC)


async def create_endpoint(
    session: AsyncSession,
    box: SecretBox,
    company_id: uuid.UUID,
    url: str,
    events: list[str],
    description: str,
    allow_private: bool,
) -> tuple[WebhookEndpoint, str]:
    await check_url(url, allow_private)
    existing = select(func.count()).select_from(WebhookEndpoint).where(WebhookEndpoint.company_id == company_id)
    count = (await session.exec(existing)).one()
    if count >= MAX_ENDPOINTS_PER_COMPANY:
        raise Conflict(f"a company may have at most {MAX_ENDPOINTS_PER_COMPANY} webhooks", code="webhook_limit_reached")
    secret = webhook_signing.new_secret()
    endpoint = WebhookEndpoint(
        company_id=company_id,
        url=url,
        events=events,
        description=description,
        sealed_secrets=webhook_signing.seal(box, [webhook_signing.SigningSecret(secret)]),
    )
    session.add(endpoint)
    await session.commit()
    return endpoint, secret


async def list_endpoints(session: AsyncSession, company_id: uuid.UUID) -> list[WebhookEndpoint]:
    rows = await session.exec(
        select(WebhookEndpoint)
        .where(WebhookEndpoint.company_id == company_id)
        .order_by(col(WebhookEndpoint.created_at))
    )
    return list(rows)


async def get_endpoint(session: AsyncSession, company_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or endpoint.company_id != company_id:
        raise NotFound("no such webhook")
    return endpoint


async def update_endpoint(
    session: AsyncSession,
    company_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    changes: dict,
    allow_private: bool,
) -> WebhookEndpoint:
    """Apply the given fields (url, events, description, disabled); the URL is checked again."""
    endpoint = await get_endpoint(session, company_id, endpoint_id)
    if "url" in changes:
        await check_url(changes["url"], allow_private)
        endpoint.url = changes["url"]
    if "events" in changes:
        endpoint.events = changes["events"]
    if "description" in changes:
        endpoint.description = changes["description"]
    if "disabled" in changes:
        if changes["disabled"] and endpoint.disabled_at is None:
            endpoint.disabled_at, endpoint.disabled_reason = _now(), "manual"
        elif not changes["disabled"]:
            endpoint.disabled_at, endpoint.disabled_reason = None, ""
    endpoint.updated_at = _now()
    session.add(endpoint)
    await session.commit()
    return endpoint


async def delete_endpoint(session: AsyncSession, company_id: uuid.UUID, endpoint_id: uuid.UUID) -> None:
    """Deletes the endpoint and its delivery log; deliveries in flight find it gone and stop."""
    endpoint = await get_endpoint(session, company_id, endpoint_id)
    await session.delete(endpoint)
    await session.commit()


async def rotate_secret(
    session: AsyncSession, box: SecretBox, company_id: uuid.UUID, endpoint_id: uuid.UUID, overlap: timedelta
) -> tuple[WebhookEndpoint, str, datetime | None]:
    """A new secret; the old one keeps signing too until the overlap ends (returned)."""
    endpoint = (
        await session.exec(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.company_id == company_id)
            .with_for_update()
        )
    ).first()
    if endpoint is None:
        raise NotFound("no such webhook")
    now = _now()
    current = webhook_signing.unseal(box, endpoint.sealed_secrets)
    secrets, fresh = webhook_signing.rotated(current, now, overlap)
    endpoint.sealed_secrets = webhook_signing.seal(box, secrets)
    endpoint.updated_at = now
    session.add(endpoint)
    await session.commit()
    old_until = max((s.expires_at for s in secrets if s.expires_at), default=None)
    return endpoint, fresh, old_until


async def list_deliveries(
    session: AsyncSession,
    company_id: uuid.UUID,
    endpoint_id: uuid.UUID,
    limit: int = 50,
    cursor: str | None = None,
    status: str | None = None,
) -> tuple[list[DeliveryWithAttempts], str | None]:
    """Newest first, each with every attempt (oldest first); keyset-paginated."""
    await get_endpoint(session, company_id, endpoint_id)
    query = select(WebhookDelivery).where(
        WebhookDelivery.company_id == company_id, WebhookDelivery.endpoint_id == endpoint_id
    )
    if status:
        query = query.where(WebhookDelivery.status == status)
    if cursor:
        created_at, row_id = decode_cursor(cursor)
        query = query.where(
            (col(WebhookDelivery.created_at) < created_at)
            | ((col(WebhookDelivery.created_at) == created_at) & (col(WebhookDelivery.id) < row_id))
        )
    rows = list(
        await session.exec(
            query.order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id).desc()).limit(limit + 1)
        )
    )
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_cursor(rows[-1].created_at, rows[-1].id)
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = {row.id: [] for row in rows}
    if rows:
        found = await session.exec(
            select(WebhookAttempt)
            .where(WebhookAttempt.company_id == company_id, col(WebhookAttempt.delivery_id).in_(list(attempts)))
            .order_by(col(WebhookAttempt.run), col(WebhookAttempt.number))
        )
        for attempt in found:
            attempts[attempt.delivery_id].append(attempt)
    return [DeliveryWithAttempts(row, attempts[row.id]) for row in rows], next_cursor


async def start_replay(
    session: AsyncSession, company_id: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
) -> tuple[WebhookDelivery, int]:
    """Claim the next run number of a finished delivery (same webhook-id, same payload)."""
    endpoint = await get_endpoint(session, company_id, endpoint_id)
    delivery = (
        await session.exec(
            select(WebhookDelivery)
            .where(
                WebhookDelivery.id == delivery_id,
                WebhookDelivery.company_id == company_id,
                WebhookDelivery.endpoint_id == endpoint_id,
            )
            .with_for_update()
        )
    ).first()
    if delivery is None:
        raise NotFound("no such delivery")
    if endpoint.disabled_at is not None:
        raise Conflict("the webhook is disabled; enable it before replaying", code="webhook_disabled")
    if delivery.status == "pending":
        raise Conflict("this delivery is still being attempted", code="delivery_in_progress")
    delivery.runs += 1
    delivery.status = "pending"
    delivery.workflow_started = False  # the route starts it; the dispatcher does if the route could not
    delivery.updated_at = _now()
    session.add(delivery)
    await session.commit()
    return delivery, delivery.runs


async def create_ping(session: AsyncSession, company_id: uuid.UUID, endpoint_id: uuid.UUID) -> WebhookDelivery:
    """A `webhook.ping` delivery to this endpoint only (it is not a domain event)."""
    endpoint = await get_endpoint(session, company_id, endpoint_id)
    if endpoint.disabled_at is not None:
        raise Conflict("the webhook is disabled; enable it before testing", code="webhook_disabled")
    now = _now()
    event_id = uuid.uuid4()
    delivery = WebhookDelivery(
        company_id=company_id,
        endpoint_id=endpoint_id,
        event_id=event_id,
        event_kind=PING_KIND,
        event_created_at=now,
        payload={"webhook_id": str(endpoint_id), "message": "This is a test event from Helpdeck."},
    )
    session.add(delivery)
    await session.commit()
    return delivery
