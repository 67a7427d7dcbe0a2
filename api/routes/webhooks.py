"""A company's webhooks (Standard Webhooks): endpoints, secret rotation, the delivery log with
every attempt, replays and test pings. Secret keys only; see docs/webhooks.md."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from api.deps import RuntimeDep, ServerCallerDep, SessionDep
from api.webhook_schemas import (
    AttemptOut,
    DeliveryOut,
    DeliveryPage,
    DeliveryQueued,
    SecretRotate,
    SecretRotated,
    WebhookCreate,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookUpdate,
)
from helpdeck.channels.crypto import SecretBox
from helpdeck.runtime import Runtime
from helpdeck.services import webhook_runner, webhooks
from helpdeck.services.webhook_dispatch import DeliveryRef, delivery_workflow_id, webhook_id_for
from helpdeck.tables import WebhookDelivery, WebhookEndpoint

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


def webhook_out(row: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(
        id=row.id,
        url=row.url,
        events=list(row.events),
        description=row.description,
        disabled=row.disabled_at is not None,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        last_success_at=row.last_success_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def delivery_out(found: webhooks.DeliveryWithAttempts) -> DeliveryOut:
    row = found.delivery
    return DeliveryOut(
        id=row.id,
        webhook_id=webhook_id_for(row.event_id),
        event_id=row.event_id,
        event_type=row.event_kind,
        conversation_id=row.conversation_id,
        status=row.status,
        attempts=[AttemptOut.model_validate(a, from_attributes=True) for a in found.attempts],
        next_attempt_at=row.next_attempt_at,
        delivered_at=row.delivered_at,
        created_at=row.created_at,
    )


async def _start(runtime: Runtime, delivery: WebhookDelivery, run: int) -> DeliveryQueued:
    workflow_id = delivery_workflow_id(delivery.endpoint_id, delivery.event_id, run)
    conversation = str(delivery.conversation_id) if delivery.conversation_id else None
    ref = DeliveryRef(str(delivery.company_id), str(delivery.id), workflow_id, run, conversation)
    await webhook_runner.start_deliveries(runtime.temporal, runtime.db, runtime.settings.task_queue, [ref])
    return DeliveryQueued(delivery_id=delivery.id, webhook_id=webhook_id_for(delivery.event_id), run=run)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> WebhookCreated:
    """Register an endpoint. Its signing secret is in this answer only."""
    row, secret = await webhooks.create_endpoint(
        session,
        SecretBox(runtime.settings.secret_key),
        caller.company_id,
        body.url,
        body.events,
        body.description,
        runtime.settings.allow_private_urls,
    )
    await webhook_runner.ensure_dispatcher(runtime.temporal, runtime.settings)
    return WebhookCreated(**webhook_out(row).model_dump(), secret=secret)


@router.get("", response_model=WebhookList)
async def list_webhooks(caller: ServerCallerDep, session: SessionDep) -> WebhookList:
    return WebhookList(items=[webhook_out(r) for r in await webhooks.list_endpoints(session, caller.company_id)])


@router.get("/{webhook_id}", response_model=WebhookOut)
async def get_webhook(webhook_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep) -> WebhookOut:
    return webhook_out(await webhooks.get_endpoint(session, caller.company_id, webhook_id))


@router.patch("/{webhook_id}", response_model=WebhookOut)
async def update_webhook(
    webhook_id: uuid.UUID, body: WebhookUpdate, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> WebhookOut:
    """Change url, events, description; `disabled: false` re-enables an endpoint Helpdeck disabled."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    row = await webhooks.update_endpoint(
        session, caller.company_id, webhook_id, changes, runtime.settings.allow_private_urls
    )
    return webhook_out(row)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep) -> Response:
    await webhooks.delete_endpoint(session, caller.company_id, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{webhook_id}/rotate-secret", status_code=status.HTTP_201_CREATED, response_model=SecretRotated)
async def rotate_secret(
    webhook_id: uuid.UUID,
    caller: ServerCallerDep,
    session: SessionDep,
    runtime: RuntimeDep,
    body: SecretRotate | None = None,
) -> SecretRotated:
    """A new secret; the old one keeps signing alongside it for `overlap_seconds` (default a day)."""
    overlap = timedelta(seconds=(body or SecretRotate()).overlap_seconds)
    row, secret, old_until = await webhooks.rotate_secret(
        session, SecretBox(runtime.settings.secret_key), caller.company_id, webhook_id, overlap
    )
    return SecretRotated(id=row.id, secret=secret, previous_secret_expires_at=old_until)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryPage)
async def list_deliveries(
    webhook_id: uuid.UUID,
    caller: ServerCallerDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status_filter: Annotated[Literal["pending", "delivered", "failed"] | None, Query(alias="status")] = None,
) -> DeliveryPage:
    """Newest first; each delivery with every attempt (time, status code, latency, error)."""
    found, next_cursor = await webhooks.list_deliveries(
        session, caller.company_id, webhook_id, limit=limit, cursor=cursor, status=status_filter
    )
    return DeliveryPage(items=[delivery_out(f) for f in found], next_cursor=next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/replay", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryQueued
)
async def replay_delivery(
    webhook_id: uuid.UUID, delivery_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> DeliveryQueued:
    """Send a finished delivery again, with the same webhook-id and body (new timestamp and signature)."""
    delivery, run = await webhooks.start_replay(session, caller.company_id, webhook_id, delivery_id)
    return await _start(runtime, delivery, run)


@router.post("/{webhook_id}/test", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryQueued)
async def test_webhook(
    webhook_id: uuid.UUID, caller: ServerCallerDep, session: SessionDep, runtime: RuntimeDep
) -> DeliveryQueued:
    """Send a `webhook.ping` event to this endpoint; its delivery shows up in the log."""
    delivery = await webhooks.create_ping(session, caller.company_id, webhook_id)
    return await _start(runtime, delivery, 0)
