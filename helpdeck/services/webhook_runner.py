"""Starting webhook workflows: the dispatcher (once per namespace) and delivery workflows (by
derived id, so starting one twice is harmless)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDConflictPolicy,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from helpdeck.db import Database
from helpdeck.services import webhook_dispatch as dispatch
from helpdeck.settings import Settings

log = logging.getLogger(__name__)

DISPATCHER_WORKFLOW_ID = "webhook-dispatcher"
START_CHUNK = 50


_announced = False


def announce_private_urls(settings: Settings) -> None:
    """Log, once per process, that outbound calls may reach private addresses."""
    global _announced
    if settings.allow_private_urls and not _announced:
        _announced = True
        log.warning(
            "HELPDECK_ALLOW_PRIVATE_URLS is on: webhooks and Slack/Discord API bases (api_base_url) may "
            "call private and loopback addresses over plain http. Use this for development and tests only."
        )


async def start_webhooks(client: Client, settings: Settings) -> None:
    """At worker start: say so when private URLs are allowed, and make sure the relay runs."""
    announce_private_urls(settings)
    await ensure_dispatcher(client, settings)


async def ensure_dispatcher(client: Client, settings: Settings) -> None:
    """Start the outbox relay unless it runs already (one per namespace)."""
    from workflows.webhooks import DispatcherInput, WebhookDispatcherWorkflow

    await client.start_workflow(
        WebhookDispatcherWorkflow.run,
        DispatcherInput(),
        id=DISPATCHER_WORKFLOW_ID,
        task_queue=settings.task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )


def _searchable(ref: dispatch.DeliveryRef) -> TypedSearchAttributes:
    """Findable in the Temporal UI, and counted by the webhook backlog gauge."""
    from workflows.chat_turn import COMPANY_ATTR, CONVERSATION_ATTR, KIND_ATTR

    pairs = [SearchAttributePair(COMPANY_ATTR, ref.company_id), SearchAttributePair(KIND_ATTR, "webhook")]
    if ref.conversation_id:
        pairs.append(SearchAttributePair(CONVERSATION_ATTR, ref.conversation_id))
    return TypedSearchAttributes(pairs)


async def start_delivery(client: Client, task_queue: str, ref: dispatch.DeliveryRef, eager: bool = False) -> bool:
    """Start one delivery's workflow; False when it was started before (same derived id)."""
    from activities.webhooks import DeliveryInput

    try:
        await client.start_workflow(
            "WebhookDeliveryWorkflow",
            DeliveryInput(ref.company_id, ref.delivery_id, ref.run),
            id=ref.workflow_id,
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            request_eager_start=eager,
            search_attributes=_searchable(ref),
        )
    except WorkflowAlreadyStartedError:
        return False
    return True


async def start_deliveries(
    client: Client,
    db: Database,
    task_queue: str,
    refs: list[dispatch.DeliveryRef],
    eager: bool = False,
    progress: Callable[[], None] = lambda: None,
    wake_running: bool = False,
) -> None:
    """Start each delivery's workflow, then mark the rows started (the relay retries the rest),
    a chunk at a time, calling `progress` after each (the relay heartbeats there).

    `wake_running`: a delivery found running already is signalled that the one before it is
    done (a delivery started before the line hand-over existed waits for that signal)."""

    async def start(ref: dispatch.DeliveryRef) -> None:
        if not await start_delivery(client, task_queue, ref, eager) and wake_running:
            try:
                await client.get_workflow_handle(ref.workflow_id).signal("previous_delivery_done")
            except RPCError:
                pass  # finished meanwhile

    for first in range(0, len(refs), START_CHUNK):
        chunk = refs[first : first + START_CHUNK]
        await asyncio.gather(*(start(ref) for ref in chunk))
        async with db.session() as session:
            await dispatch.mark_started(session, [ref.delivery_id for ref in chunk])
        progress()
