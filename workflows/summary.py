"""SummariseConversationWorkflow: fold older messages into the conversation's rolling summary.

Started by a turn and left to run on its own, so the customer never waits for it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from activities.models import ModelActivities, SummariseInput


@workflow.defn
class SummariseConversationWorkflow:
    @workflow.run
    async def run(self, params: SummariseInput) -> None:
        await workflow.execute_activity_method(
            ModelActivities.summarise_conversation,
            params,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=RetryPolicy(maximum_attempts=5, maximum_interval=timedelta(seconds=30)),
        )
