"""The activity behind a Claim button pressed in Slack (see helpdeck.channels.slack_claims).

Kept apart from activities.channels because it claims through the escalation's workflow,
whose module imports the channel activities (for its notice).
"""

from __future__ import annotations

from dataclasses import dataclass

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from helpdeck.channels import outbound, slack
from helpdeck.channels.crypto import SecretBox
from helpdeck.channels.slack_claims import claim_from_slack
from helpdeck.channels.store import load_config
from helpdeck.db import Database
from helpdeck.errors import NotFound
from helpdeck.services.escalation_runner import EscalationUnavailable
from helpdeck.settings import Settings


@dataclass
class SlackClaimInput:
    company_id: str
    press: slack.SlackAction  # ids and short strings only (each cut to 64 characters)


class SlackClaimActivities:
    def __init__(self, db: Database, temporal: Client, settings: Settings) -> None:
        self.db = db
        self.temporal = temporal
        self.settings = settings
        self.box = SecretBox(settings.secret_key)

    @activity.defn
    async def claim_escalation_from_slack(self, params: SlackClaimInput) -> str:
        """Map the presser to an agent, claim, and tell Slack; returns claimed | refused | taken | failed.

        Safe to retry: the claim update is keyed by this workflow's id (one press, one claim)."""
        async with self.db.session() as session:
            try:
                config = await load_config(session, self.box, params.company_id, "slack")
            except NotFound:
                return "failed"  # Slack was disconnected since the press: nobody to answer
        try:
            return await claim_from_slack(
                self.db, self.temporal, self.settings, config, params.press, activity.info().workflow_id
            )
        except (outbound.ChannelUnavailable, EscalationUnavailable) as exc:
            raise ApplicationError(str(exc), type=type(exc).__name__) from exc
