"""A Claim button pressed in Slack: the Slack user becomes a Helpdeck agent, who claims the
escalation through its workflow's `claim` update, exactly as `POST /v1/escalations/{id}/claim`.

Mapping: the Slack user's email (Slack `users.info`, scope `users:read.email`) must be the email
of a user of the same company with a queue role (owner, admin, agent). Slack verifies workspace
emails; nothing else has to be stored or kept in sync. Anyone else gets an ephemeral refusal
and nothing changes. On success the notice is edited to show who claimed it; when another agent
was faster, the presser is told so, ephemerally.

It runs in an activity of SlackClaimWorkflow (started before Slack gets its acknowledgement), so
it must be safe to run again: the claim update carries an id of the press, so a retried attempt
gets the first attempt's answer instead of "already claimed". Slack or the queue being
unreachable raises (the activity retries); a refusal from Slack ends it as "failed".
"""

from __future__ import annotations

import logging
import uuid

from sqlmodel import select
from temporalio.client import Client

from helpdeck.channels import outbound, slack
from helpdeck.channels.store import LoadedConfig
from helpdeck.db import Database
from helpdeck.errors import Conflict, NotFound
from helpdeck.services import escalations
from helpdeck.services.escalation_runner import update_escalation
from helpdeck.services.users import QUEUE_ROLES
from helpdeck.settings import Settings
from helpdeck.tables import User
from workflows.escalation import ClaimRequest, EscalationWorkflow

log = logging.getLogger(__name__)
NOT_AN_AGENT = (
    "Only Helpdeck agents of this company can claim escalations. Your Slack email does not match one; "
    "ask an admin to add you in Helpdeck with the same email."
)


async def agent_for_slack_user(db: Database, settings: Settings, config: LoadedConfig, slack_user: str) -> User | None:
    """The company's queue user with the Slack user's email, or None."""
    email = await outbound.slack_user_email(
        config.secrets["bot_token"], config.settings.get("api_base_url"), slack_user, settings.allow_private_urls
    )
    if email is None:
        return None
    async with db.session() as session:
        user = (
            await session.exec(select(User).where(User.company_id == config.company_id, User.email == email))
        ).first()
    return user if user is not None and user.role in QUEUE_ROLES else None


async def claim_from_slack(
    db: Database,
    temporal: Client,
    settings: Settings,
    config: LoadedConfig,
    press: slack.SlackAction,
    press_id: str,
) -> str:
    """Handle one Claim press; returns what happened (claimed | refused | taken | failed).

    `press_id` names the press (the id of its workflow): the claim update carries it, so running
    this twice for one press claims once. ChannelUnavailable and EscalationUnavailable (and
    database errors) propagate, for the caller to retry.
    """
    token, base = config.secrets["bot_token"], config.settings.get("api_base_url")
    allow_private = settings.allow_private_urls

    async def tell_presser(text: str) -> None:
        if press.channel:
            await outbound.post_slack_ephemeral(token, base, press.channel, press.user, text, allow_private)

    try:
        agent = await agent_for_slack_user(db, settings, config, press.user)
        if agent is None:
            await tell_presser(NOT_AN_AGENT)
            return "refused"
        try:
            escalation_id = uuid.UUID(press.value)
        except ValueError:
            await tell_presser("This button does not belong to a Helpdeck escalation.")
            return "refused"
        try:
            async with db.session() as session:
                row = await escalations.get_escalation(session, config.company_id, escalation_id)
        except NotFound:
            await tell_presser("This escalation no longer exists in Helpdeck.")
            return "refused"
        try:
            await update_escalation(
                temporal, settings.task_queue, row, EscalationWorkflow.claim,
                ClaimRequest(str(agent.id), agent.name), update_id=press_id,
            )  # fmt: skip
        except Conflict as exc:
            await tell_presser(f"Not claimed: {exc.detail}.")
            return "taken"
        async with db.session() as session:
            row = await escalations.get_escalation(session, config.company_id, escalation_id)
        if press.channel and press.message_ts:
            text, blocks = slack.claimed_notice(escalations.escalation_payload(row), row.reason, agent.name)
            await outbound.update_slack_message(token, base, press.channel, press.message_ts, text, blocks,
                                                allow_private)  # fmt: skip
        return "claimed"
    except outbound.ChannelRejected as exc:
        log.warning("a Slack claim for company %s could not be handled: %s", config.company_id, exc)
        return "failed"
