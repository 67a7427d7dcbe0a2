"""ChannelReplyWorkflow: the answer to a Slack or Discord message, posted back exactly once.

The story: wait for the turn (already durable, started by the API) to answer; post the answer
in the thread it came from, retrying while the platform is down; record a failure for good
when the platform refuses. Its id derives from the turn id, so one turn has one reply workflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.channels import AwaitTurnInput, ChannelActivities, DeliveryFailedInput, PostReplyInput


@dataclass
class ChannelReplyInput:
    company_id: str
    turn_id: str


def reply_workflow_id(turn_id: str) -> str:
    return f"channel-reply-{turn_id}"


@workflow.defn
class ChannelReplyWorkflow:
    @workflow.run
    async def run(self, params: ChannelReplyInput) -> str:
        try:
            reply_message_id = await workflow.execute_activity_method(
                ChannelActivities.await_turn_reply,
                AwaitTurnInput(params.turn_id),
                start_to_close_timeout=timedelta(minutes=30),
                heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(seconds=30),
                    non_retryable_error_types=["TurnFailed"],
                ),
            )
            return await workflow.execute_activity_method(
                ChannelActivities.post_channel_reply,
                PostReplyInput(params.company_id, params.turn_id, reply_message_id),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(minutes=1),
                    maximum_attempts=12,
                    non_retryable_error_types=["ChannelRejected"],
                ),
            )
        except ActivityError as exc:
            reason = str(exc.cause or exc)
            workflow.logger.warning("channel reply for %s failed for good: %s", params.turn_id, reason)
            await workflow.execute_local_activity_method(
                ChannelActivities.mark_delivery_failed,
                DeliveryFailedInput(params.company_id, params.turn_id, reason),
                start_to_close_timeout=timedelta(seconds=10),
            )
            return ""
