"""The Temporal worker: which workflows and activities this process runs, nothing else.

`python worker.py` runs one against TEMPORAL_ADDRESS (the scale-out shape); `helpdeck up` runs
the same worker inside the API process.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from activities.conversations import ConversationActivities
from activities.models import ModelActivities
from activities.retrieval import RetrievalActivities
from helpdeck.runtime import Runtime
from helpdeck.temporal_logging import LogContextInterceptor
from workflows.chat_turn import ChatTurnWorkflow
from workflows.summary import SummariseConversationWorkflow

WORKFLOWS = [ChatTurnWorkflow, SummariseConversationWorkflow]


def activities_for(runtime: Runtime) -> list:
    conversations = ConversationActivities(runtime.db, runtime.redis, runtime.settings)
    models = ModelActivities(
        runtime.db, runtime.redis, runtime.settings, runtime.gateway, runtime.knowledge
    )
    retrieval = RetrievalActivities(runtime.knowledge)
    return [
        conversations.record_user_message,
        conversations.is_turn_completed,
        conversations.record_reply,
        models.plan_turn,
        models.generate_reply,
        models.summarise_conversation,
        retrieval.retrieve_passages,
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
        interceptors=[LogContextInterceptor()],
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
    try:
        await build_worker(runtime.temporal, runtime).run()
    finally:
        await runtime.close()


if __name__ == "__main__":
    asyncio.run(run_worker())
