"""The Temporal worker: which workflows and activities this process runs, nothing else.

`python worker.py` runs one against TEMPORAL_ADDRESS (the scale-out shape); `helpdeck up` runs
the same worker inside the API process.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.actions import ActionActivities
from activities.analytics import AnalyticsActivities
from activities.answers import AnswerActivities
from activities.channels import ChannelActivities
from activities.conversations import ConversationActivities
from activities.escalation import EscalationActivities
from activities.ingestion import IngestionActivities
from activities.models import ModelActivities
from activities.retrieval import RetrievalActivities
from activities.slack_claims import SlackClaimActivities
from activities.understanding import UnderstandingActivities
from activities.webhooks import WebhookActivities
from helpdeck.observability.activity_metrics import ActivityMetricsInterceptor
from helpdeck.runtime import Runtime
from helpdeck.temporal_logging import LogContextInterceptor
from workflows.analytics import AnalyticsRollupWorkflow
from workflows.channel_reply import ChannelReplyWorkflow
from workflows.chat_turn import ChatTurnWorkflow
from workflows.escalation import EscalationWorkflow
from workflows.ingestion import CrawlSourceWorkflow, IngestDocumentWorkflow, ReindexWorkflow
from workflows.slack_claim import SlackClaimWorkflow
from workflows.summary import SummariseConversationWorkflow
from workflows.webhooks import WebhookDeliveryWorkflow, WebhookDispatcherWorkflow

WORKFLOWS = [
    ChatTurnWorkflow, SummariseConversationWorkflow, EscalationWorkflow, AnalyticsRollupWorkflow, ChannelReplyWorkflow,
    SlackClaimWorkflow,
    WebhookDeliveryWorkflow, WebhookDispatcherWorkflow,
    IngestDocumentWorkflow, CrawlSourceWorkflow, ReindexWorkflow,
]


def activities_for(runtime: Runtime) -> list:
    conversations = ConversationActivities(runtime.db, runtime.redis, runtime.settings, runtime.temporal)
    models = ModelActivities(
        runtime.db, runtime.redis, runtime.settings, runtime.gateway, runtime.knowledge
    )
    retrieval = RetrievalActivities(runtime.knowledge)
    channel_replies = ChannelActivities(runtime.db, runtime.temporal, runtime.settings)
    webhooks = WebhookActivities(runtime.db, runtime.settings, runtime.temporal, runtime.worker_in_process)
    return [
        conversations.record_user_message,
        conversations.is_turn_completed,
        conversations.record_reply,
        models.plan_turn,
        models.generate_reply,
        models.summarise_conversation,
        retrieval.retrieve_passages,
        webhooks.relay_events,
        webhooks.attempt_delivery,
        channel_replies.await_turn_reply,
        channel_replies.post_channel_reply,
        channel_replies.mark_delivery_failed,
        channel_replies.post_escalation_notice,
        SlackClaimActivities(runtime.db, runtime.temporal, runtime.settings).claim_escalation_from_slack,
        AnalyticsActivities(runtime.db).refresh_rollups,
        *_understanding_activities(runtime),
        *AnswerActivities(runtime.db, runtime.redis, runtime.settings, runtime.knowledge, runtime.embedder).all(),
        *ActionActivities(runtime.db, runtime.settings, runtime.gateway).all(),
        *IngestionActivities(
            runtime.db, runtime.settings, runtime.blobs, runtime.embedder, runtime.search_index, runtime.temporal
        ).all(),
        *EscalationActivities(
            runtime.db, runtime.redis, runtime.settings, runtime.gateway, runtime.knowledge, runtime.temporal
        ).all(),
    ]


def _understanding_activities(runtime: Runtime) -> list:
    understanding = UnderstandingActivities(runtime.db, runtime.redis, runtime.gateway, runtime.embedder)
    return [
        understanding.understand_message,
        understanding.check_escalation,
        understanding.validate_reply,
    ]


def build_worker(client: Client, runtime: Runtime) -> Worker:
    return Worker(
        client,
        task_queue=runtime.settings.task_queue,
        workflows=WORKFLOWS,
        activities=activities_for(runtime),
        # Workflows import only dataclasses and pure code; determinism is guarded by replay
        # tests. The sandbox's per-run re-import would cost more than the rest of a turn.
        workflow_runner=UnsandboxedWorkflowRunner(),
        interceptors=[LogContextInterceptor(), ActivityMetricsInterceptor()],
        max_concurrent_activities=200,
        max_concurrent_local_activities=200,
    )


async def run_worker() -> None:
    from helpdeck.logs import configure_logging
    from helpdeck.runtime import open_runtime
    from helpdeck.settings import Settings
    from helpdeck.temporal_setup import ensure_search_attributes

    settings = Settings()
    configure_logging(settings)
    if not (settings.temporal_address and settings.database_url and settings.redis_url):
        raise SystemExit(
            "worker.py needs TEMPORAL_ADDRESS, DATABASE_URL and REDIS_URL "
            "(or run `helpdeck up` for the all-in-one embedded shape)"
        )
    runtime = await open_runtime(settings)
    await ensure_search_attributes(runtime.temporal, settings.temporal_namespace)
    from helpdeck.knowledge_startup import preload_parsers_in_background

    preload_parsers_in_background()
    from helpdeck.analytics.schedule import ensure_rollup_schedule

    await ensure_rollup_schedule(runtime.temporal, settings)
    from helpdeck.services.webhook_runner import start_webhooks

    await start_webhooks(runtime.temporal, settings)
    from helpdeck.observability.worker_metrics import WorkerMetricsServer

    # This process's activities move the turn, token and cost counters: serve them here.
    metrics = WorkerMetricsServer(settings) if settings.worker_metrics_port else None
    try:
        if metrics is not None:
            await metrics.start()
        await build_worker(runtime.temporal, runtime).run()
    finally:
        if metrics is not None:
            await metrics.stop()
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(run_worker())
