"""SlackClaimWorkflow: a Claim button pressed in Slack, handled once even if the API dies.

The story: the API starts this workflow before it acknowledges Slack, so an acknowledged press
is durable; one activity maps the presser to an agent, claims through the escalation's workflow
and tells Slack the outcome, retried while Slack or the queue cannot be reached. Its id derives
from the press, so Slack delivering the same press again starts nothing.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.slack_claims import SlackClaimActivities, SlackClaimInput


def slack_claim_workflow_id(params: SlackClaimInput) -> str:
    """One id per press: the company, the Slack workspace, user, message, button value and the
    press's own timestamp (`action_ts`, which Slack keeps on a redelivery)."""
    press = params.press
    key = "\n".join((params.company_id, press.team_id, press.user, press.channel, press.message_ts,
                     press.action_ts, press.value))  # fmt: skip
    return f"slack-claim-{params.company_id}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


@workflow.defn
class SlackClaimWorkflow:
    @workflow.run
    async def run(self, params: SlackClaimInput) -> str:
        try:
            return await workflow.execute_activity_method(
                SlackClaimActivities.claim_escalation_from_slack,
                params,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_interval=timedelta(seconds=30),
                    maximum_attempts=12,
                ),
            )
        except ActivityError as exc:
            workflow.logger.warning("a Slack claim press could not be handled: %s", exc.cause or exc)
            return "failed"
