"""Webhook delivery: how an event becomes signed HTTP requests, durably and in order.

The path of an event:
1. The code that changes something writes the event (`events`) in its own transaction; a
   trigger puts it in `webhook_outbox` in that same transaction when the company has an enabled
   endpoint (the transactional outbox: no event is committed without its outbox row, and
   nothing waits for webhooks — the turn only pays for one indexed lookup).
2. `WebhookDispatcherWorkflow` (one per namespace, id `webhook-dispatcher`, continued-as-new)
   runs the long-lived `relay_events` activity: it turns outbox rows into one delivery row per
   (event, subscribed endpoint) and deletes them in one transaction, then starts one
   `WebhookDeliveryWorkflow` per delivery whose id is derived from endpoint and event ids, so a
   relay that dies half-way and runs again starts nothing twice. Deliveries not yet started
   (`workflow_started`) are picked up on the next pass: a crash anywhere loses nothing.
3. Lines: the relay starts only the head of each (endpoint, conversation) line; a delivery
   with an earlier event of its conversation still pending at that endpoint is marked
   started and "handed over" to its line, without a workflow. When a delivery finishes, the
   same activity gives the next one of its line back to the relay (in the database), which
   starts it as the new head; a sweep each relay round starts any line head left idle (the
   predecessor's workflow lost). So a delivery's workflow normally makes one attempt in one
   workflow task, instead of starting, finding itself blocked, sleeping on a timer and being
   woken by a signal (about 3 workflow tasks and 16 history events per delivery before,
   1 and 6 after: bench/README.md).
   `WebhookDeliveryWorkflow` still checks the line before its first attempt (a delivery
   started by an older relay, or by a replay, may find it busy) and then waits for the
   predecessor's signal (the relay signals a running delivery it is asked to start again),
   with a periodic re-check as the safety net; then it attempts:
   immediately, then after 5 s, 5 min, 30 min, 2 h, 5 h and six times 10 h (±20 % jitter;
   about 2.8 days in all). 2xx ends it; 410 disables the endpoint; after the last failure the
   endpoint is disabled too unless something else reached it meanwhile. Every attempt is a
   row in `webhook_attempts`.

Why per (endpoint, conversation) serialisation rather than one workflow per endpoint: the
issue asks for a workflow per event and endpoint (replayable, visible one by one in the
Temporal UI); ordering only matters within a conversation, so other conversations and
endpoints are never held up by a slow one, and a receiver that was down gets each
conversation's backlog in order as soon as the head of each conversation's line succeeds.
Replays (`run` > 0) skip the line: a person asked for that one event again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.webhooks import (
        AttemptInput,
        AttemptResult,
        DeliveryInput,
        RelayInput,
        WebhookActivities,
    )

# After the immediate first attempt (the Standard Webhooks / Svix schedule, stretched to ~3 days).
RETRY_DELAYS = [
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    *[timedelta(hours=10)] * 6,
]
JITTER = 0.2
FIRST_ORDER_CHECK = timedelta(seconds=30)
LAST_ORDER_CHECK = timedelta(minutes=30)
BUSY_RETRY = timedelta(seconds=15)

ATTEMPT_STEP = dict(
    start_to_close_timeout=timedelta(seconds=40),  # the request itself is bounded at ~20 s
    schedule_to_close_timeout=timedelta(minutes=10),
    retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
)


@dataclass
class DeliveryResult:
    status: str
    attempts: int


@dataclass
class DispatcherInput:
    rounds_before_continue: int = 120
    relay: RelayInput | None = None


@workflow.defn
class WebhookDeliveryWorkflow:
    def __init__(self) -> None:
        self._previous_done = False

    @workflow.signal
    def previous_delivery_done(self) -> None:
        self._previous_done = True

    @workflow.run
    async def run(self, delivery: DeliveryInput) -> DeliveryResult:
        schedule = [timedelta(0), *RETRY_DELAYS]
        result = AttemptResult(done=False, status="pending")
        made = 0
        for number, delay in enumerate(schedule):
            if delay:
                await workflow.sleep(delay * (1 - JITTER + 2 * JITTER * workflow.random().random()))
            attempt = AttemptInput(
                delivery.company_id,
                delivery.delivery_id,
                delivery.run,
                number,
                None if number == len(schedule) - 1 else schedule[number + 1].total_seconds(),
                # Only a first delivery waits its turn; a replay was asked for by a person.
                check_order=number == 0 and delivery.run == 0,
            )
            try:
                result = await self._attempt(attempt)
            except ActivityError:
                # Our side failed (database down): wait for the next slot of the schedule.
                workflow.logger.warning("webhook attempt %s could not run", number)
                continue
            made = number + 1
            if result.done:
                break
        if result.next_workflow_id:
            try:
                await workflow.get_external_workflow_handle(result.next_workflow_id).signal(
                    WebhookDeliveryWorkflow.previous_delivery_done
                )
            except Exception:
                # Not started yet: it checks the database before its first attempt anyway.
                workflow.logger.info("next delivery %s not running yet", result.next_workflow_id)
        return DeliveryResult(result.status, made)

    async def _attempt(self, attempt: AttemptInput) -> AttemptResult:
        """One attempt; while an earlier event of the conversation is pending there, wait for
        its signal (or the periodic re-check) and try again."""
        check_every = FIRST_ORDER_CHECK
        while True:
            self._previous_done = False
            result = await workflow.execute_local_activity_method(
                WebhookActivities.attempt_delivery, attempt, **ATTEMPT_STEP
            )
            if result.status == "busy":  # a copy of this attempt is in flight: let it finish
                await workflow.sleep(BUSY_RETRY)
                continue
            if result.status != "blocked":
                return result
            try:
                await workflow.wait_condition(lambda: self._previous_done, timeout=check_every)
            except TimeoutError:
                check_every = min(check_every * 2, LAST_ORDER_CHECK)


@workflow.defn
class WebhookDispatcherWorkflow:
    """Keeps the outbox relay running, one round (about a minute) at a time."""

    @workflow.run
    async def run(self, params: DispatcherInput) -> None:
        relay = params.relay or RelayInput()
        for _ in range(params.rounds_before_continue):
            await workflow.execute_activity_method(
                WebhookActivities.relay_events,
                relay,
                start_to_close_timeout=timedelta(seconds=relay.run_for_s + 120),
                # Generous: under a backlog the relay waits for database connections and CPU
                # with thousands of deliveries; a dead worker's relay still moves within a minute.
                heartbeat_timeout=timedelta(seconds=60),
                retry_policy=RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30)),
            )
        workflow.continue_as_new(params)
