"""Where Slack and Discord call us. Authenticated by each platform's signature, not by a key:
the company is in the path, its stored signing secret or public key decides.

A refused request (forged, stale, replayed, malformed) records nothing. An accepted message is
acknowledged at once; its turn and the reply run in Temporal workflows, started before the
acknowledgement, as is the handling of a Claim button press.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request

from api.deps import RuntimeDep, SessionDep
from helpdeck.channels import discord, slack
from helpdeck.channels.crypto import SecretBox
from helpdeck.channels.inbound import first_sighting, start_channel_turn, start_slack_claim
from helpdeck.channels.signatures import verify_discord, verify_slack
from helpdeck.channels.store import LoadedConfig, load_config, open_inbound_turn
from helpdeck.errors import Unauthorized
from helpdeck.runtime import Runtime

router = APIRouter(prefix="/channels", tags=["platform endpoints"])

JSON_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {"type": "object"}}}}}
FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "properties": {"payload": {"type": "string"}}}
            }
        },
    }
}


async def _fresh(runtime: Runtime, config: LoadedConfig, signature: str) -> None:
    if not await first_sighting(runtime, config.platform, config.company_id, signature):
        raise Unauthorized("this signed request was already received", code="replayed_request")


@router.post("/slack/{company_id}/events", openapi_extra=JSON_BODY)
async def slack_events(
    company_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    x_slack_signature: Annotated[str | None, Header()] = None,
    x_slack_request_timestamp: Annotated[str | None, Header()] = None,
    x_slack_retry_num: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Slack Events API: URL verification, mentions in channels and direct messages."""
    body = await request.body()
    config = await load_config(session, SecretBox(runtime.settings.secret_key), company_id, "slack")
    await session.commit()  # nothing held open while we verify
    verify_slack(config.secrets["signing_secret"], x_slack_request_timestamp, body, x_slack_signature)
    if x_slack_retry_num is None:
        # A Slack retry repeats the event on purpose; the event id (below) keeps it to one turn.
        await _fresh(runtime, config, str(x_slack_signature))
    payload = slack.parse_json(body)
    kind = payload.get("type")
    if kind == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str) or len(challenge) > 500:
            raise slack.MalformedRequest("`challenge` is missing")
        return {"challenge": challenge}
    if kind != "event_callback":
        return {"ok": True}
    message = slack.message_from_event(payload)
    if message is None:
        return {"ok": True}
    inbound = await open_inbound_turn(
        session,
        config.company_id,
        "slack",
        thread_key=f"{message.channel}:{message.thread_ts}",
        external_id=message.event_id,
        user_id=f"slack:{message.user}",
        conversation_meta={
            "slack": {"team_id": message.team_id, "channel": message.channel, "thread_ts": message.thread_ts}
        },
        target={"channel": message.channel, "thread_ts": message.thread_ts},
    )
    await start_channel_turn(
        runtime, config.company_id, inbound, message.text[: runtime.settings.max_message_chars], "slack"
    )
    return {"ok": True}


@router.post("/slack/{company_id}/interactions", openapi_extra=FORM_BODY)
async def slack_interactions(
    company_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    x_slack_signature: Annotated[str | None, Header()] = None,
    x_slack_request_timestamp: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Slack interactivity (buttons). Claim buttons on escalation notices carry the action id
    `helpdeck_claim_escalation` and the escalation id as their value; the Slack user is mapped
    to a Helpdeck agent by email (helpdeck.channels.slack_claims)."""
    body = await request.body()
    config = await load_config(session, SecretBox(runtime.settings.secret_key), company_id, "slack")
    await session.commit()
    verify_slack(config.secrets["signing_secret"], x_slack_request_timestamp, body, x_slack_signature)
    payload = slack.parse_interaction(body)
    claims = slack.claim_actions(payload)
    # Slack wants its answer within 3 s: each press becomes a workflow (the claim, which also
    # prepares the agent assist, and the message edit run there), started before the answer so
    # an acknowledged press survives a crash. Its id derives from the press, so a redelivery
    # starts nothing; the replay check comes after, so a press refused with 503 (nothing
    # started) is not refused as a replay when Slack sends it again.
    for press in claims:
        await start_slack_claim(runtime, config.company_id, press)
    await _fresh(runtime, config, str(x_slack_signature))
    return {"ok": True, "claims": [{"escalation_id": c.value, "status": "processing"} for c in claims]}


@router.post("/discord/{company_id}/interactions", openapi_extra=JSON_BODY)
async def discord_interactions(
    company_id: str,
    request: Request,
    session: SessionDep,
    runtime: RuntimeDep,
    x_signature_ed25519: Annotated[str | None, Header()] = None,
    x_signature_timestamp: Annotated[str | None, Header()] = None,
) -> dict[str, Any]:
    """Discord interactions: PING, and `/ask` answered with a deferred response then an edit."""
    body = await request.body()
    box = SecretBox(runtime.settings.secret_key)
    config = await load_config(session, box, company_id, "discord")
    await session.commit()
    verify_discord(config.settings["public_key"], x_signature_timestamp, body, x_signature_ed25519)
    await _fresh(runtime, config, str(x_signature_ed25519))
    payload = slack.parse_json(body)
    kind = discord.interaction_type(payload)
    if kind == discord.PING:
        return {"type": discord.PONG}
    if kind != discord.APPLICATION_COMMAND:
        raise slack.MalformedRequest(f"interaction type {kind} is not handled here")
    ask = discord.ask_command(payload)
    if ask is None:
        return {"type": discord.CHANNEL_MESSAGE, "data": {"content": "I only know /ask.", "flags": discord.EPHEMERAL}}
    inbound = await open_inbound_turn(
        session,
        config.company_id,
        "discord",
        thread_key=f"{ask.channel_id}:{ask.user_id}",
        external_id=ask.interaction_id,
        user_id=f"discord:{ask.user_id}",
        conversation_meta={"discord": {"guild_id": ask.guild_id, "channel_id": ask.channel_id}},
        target={"kind": "interaction", "token_sealed": box.seal_text(ask.token)},
    )
    await start_channel_turn(
        runtime, config.company_id, inbound, ask.question[: runtime.settings.max_message_chars], "discord"
    )
    return {"type": discord.DEFERRED_CHANNEL_MESSAGE}
