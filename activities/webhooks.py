"""Webhook activities: relaying the event outbox into delivery workflows, and one signed HTTP
attempt at a time (through the SSRF-safe poster), each logged to the database."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from temporalio import activity
from temporalio.client import Client

from helpdeck.channels.crypto import SecretBox
from helpdeck.db import Database
from helpdeck.safe_http import SafePoster
from helpdeck.services import webhook_dispatch as dispatch
from helpdeck.services.webhook_runner import start_deliveries, start_delivery
from helpdeck.services.webhook_signing import signed_headers
from helpdeck.settings import Settings

# A handed-over delivery not started after this long is started by the relay's sweep.
STALLED_AFTER = timedelta(minutes=2)


@dataclass
class RelayInput:
    run_for_s: float = 60.0
    idle_sleep_s: float = 0.25
    batch: int = 100  # outbox rows (events) per transaction
    start_batch: int = 200  # deliveries whose workflows are started per round


@dataclass
class RelayResult:
    events_relayed: int
    workflows_started: int


@dataclass
class DeliveryInput:
    company_id: str
    delivery_id: str
    run: int = 0  # 0 for the first delivery, n for the n-th replay


@dataclass
class AttemptInput:
    company_id: str
    delivery_id: str
    run: int
    number: int
    # Seconds until the next attempt if this one fails; None when this is the last one.
    retry_in_s: float | None
    # Wait (answer "blocked") while an earlier event of the conversation is pending there.
    check_order: bool = False


@dataclass
class AttemptResult:
    done: bool
    status: str  # blocked | busy | pending | delivered | failed | gone | superseded
    status_code: int | None = None
    # Set by code before the line hand-over: the workflow signals the next delivery. Now the
    # relay starts (or, if running, signals) it; kept so recorded histories still decode.
    next_workflow_id: str | None = None


class WebhookActivities:
    def __init__(self, db: Database, settings: Settings, temporal: Client, eager_start: bool = False) -> None:
        self.db = db
        self.settings = settings
        self.temporal = temporal
        self.eager_start = eager_start
        self.box = SecretBox(settings.secret_key)
        self.poster = SafePoster(allow_private=settings.allow_private_urls)

    @activity.defn
    async def relay_events(self, params: RelayInput) -> RelayResult:
        """Long-running: move outbox rows into deliveries and start their workflows until
        `run_for_s` has passed (heartbeating, so a dead worker's relay moves elsewhere)."""
        deadline = time.monotonic() + params.run_for_s
        relayed = started = 0

        def beat() -> None:
            activity.heartbeat(relayed, started)

        beat()
        async with self.db.session() as session:  # the hand-over's safety net, once a round
            stalled = await dispatch.stalled_heads(session, STALLED_AFTER)
        for ref in stalled:
            await start_delivery(self.temporal, self.settings.task_queue, ref, self.eager_start)
        while time.monotonic() < deadline:
            async with self.db.session() as session:
                moved = await dispatch.relay_outbox(session, params.batch)
            relayed += moved
            beat()
            async with self.db.session() as session:
                refs = await dispatch.unstarted_deliveries(session, params.start_batch)
                heads = await dispatch.hand_over_to_lines(session, refs) if refs else []
            if heads:
                await start_deliveries(
                    self.temporal, self.db, self.settings.task_queue, heads, self.eager_start,
                    progress=beat, wake_running=True,
                )
            started += len(heads)
            if not moved and not refs:
                await asyncio.sleep(params.idle_sleep_s)
        return RelayResult(relayed, started)

    @activity.defn
    async def attempt_delivery(self, params: AttemptInput) -> AttemptResult:
        company_id, delivery_id = uuid.UUID(params.company_id), uuid.UUID(params.delivery_id)
        async with self.db.session() as session:
            # One statement in the common case; the step-by-step path says why it is not.
            prepared: dispatch.Request | dispatch.Finished | dispatch.Busy | None = await dispatch.claim_ready_attempt(
                session, self.box, company_id, delivery_id, params.run, params.number, params.check_order
            )
            if prepared is None:
                if params.check_order and await dispatch.is_blocked(session, company_id, delivery_id):
                    return AttemptResult(False, "blocked")
                prepared = await dispatch.prepare_attempt(
                    session, self.box, company_id, delivery_id, params.run, params.number
                )
        if prepared is None:  # made and recorded already; only a failure leaves it pending
            return AttemptResult(done=params.retry_in_s is None, status="pending")
        if isinstance(prepared, dispatch.Busy):
            return AttemptResult(False, "busy")
        if isinstance(prepared, dispatch.Finished):
            return AttemptResult(True, prepared.status)
        timestamp = int(time.time())
        headers = signed_headers(prepared.headers_secrets, prepared.webhook_id, timestamp, prepared.body)
        outcome = await self.poster.post(prepared.url, headers, prepared.body)
        retry_in = None if params.retry_in_s is None else timedelta(seconds=params.retry_in_s)
        async with self.db.session() as session:
            code = outcome.status_code
            if code is not None and 200 <= code < 300 and await dispatch.record_delivered(
                session, company_id, delivery_id, params.run, params.number, outcome
            ):
                return AttemptResult(True, "delivered", code)
            finished = await dispatch.record_attempt(
                session, company_id, delivery_id, params.run, params.number, outcome, retry_in
            )
        if finished is None:
            return AttemptResult(False, "pending", outcome.status_code)
        return AttemptResult(True, finished.status, outcome.status_code)
