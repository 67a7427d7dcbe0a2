"""Slack's Events API and interactivity payloads, read into what a turn needs.

Only two kinds of message become turns: an `app_mention` in a channel, and a `message` in a
direct message with the bot. Bot messages, edits, deletions and other subtypes are ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from helpdeck.errors import HelpdeckError

MENTION = re.compile(r"<@([UW][A-Z0-9]+)(\|[^>]*)?>")
LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]+))?>")
CLAIM_ACTION = "helpdeck_claim_escalation"


class MalformedRequest(HelpdeckError):
    status, code, title = 400, "malformed_request", "Malformed platform request"


@dataclass(frozen=True)
class SlackMessage:
    event_id: str
    team_id: str
    channel: str
    thread_ts: str  # the thread root: a reply to a top-level message starts a thread on it
    user: str
    text: str


@dataclass(frozen=True)
class SlackAction:
    action_id: str
    value: str
    user: str
    team_id: str
    channel: str = ""  # where the pressed message is (to update it, or answer ephemerally)
    message_ts: str = ""
    action_ts: str = ""  # when Slack saw the press: the same on a redelivery, new on a second press


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise MalformedRequest("the body is not JSON") from None
    if not isinstance(payload, dict):
        raise MalformedRequest("the body is not a JSON object")
    return payload


def _str(mapping: dict, name: str) -> str:
    value = mapping.get(name)
    if not isinstance(value, str) or not value or len(value) > 255:
        raise MalformedRequest(f"`{name}` is missing or malformed")
    return value


def clean_text(text: str) -> str:
    """Slack's wire text as a person wrote it: mentions dropped, links and escapes undone."""
    text = MENTION.sub("", text)
    text = LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})" if m.group(2) else m.group(1), text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def message_from_event(payload: dict[str, Any]) -> SlackMessage | None:
    """The turn this event_callback asks for, or None when it is not for the bot to answer."""
    event = payload.get("event")
    if not isinstance(event, dict):
        raise MalformedRequest("`event` is missing")
    event_id = _str(payload, "event_id")
    kind = event.get("type")
    if event.get("subtype") or event.get("bot_id") or event.get("bot_profile"):
        return None  # bots (ourselves included), edits, deletions, joins
    if kind == "message" and event.get("channel_type") != "im":
        return None  # channel messages arrive as app_mention when they are for us
    if kind not in ("app_mention", "message"):
        return None
    raw_text = event.get("text")
    if not isinstance(raw_text, str):
        raise MalformedRequest("`event.text` is missing")
    text = clean_text(raw_text)
    if not text:
        return None
    ts = _str(event, "ts")
    thread_ts = event.get("thread_ts") if isinstance(event.get("thread_ts"), str) else ts
    team = payload.get("team_id") if isinstance(payload.get("team_id"), str) else ""
    return SlackMessage(event_id, team, _str(event, "channel"), str(thread_ts)[:64], _str(event, "user"), text)


def parse_interaction(body: bytes) -> dict[str, Any]:
    """Interactivity posts `payload=<json>` as a form; returns the decoded payload."""
    try:
        form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        payload = json.loads(form["payload"][0])
    except (ValueError, KeyError, UnicodeDecodeError):
        raise MalformedRequest("expected a form with a JSON `payload`") from None
    if not isinstance(payload, dict):
        raise MalformedRequest("`payload` is not a JSON object")
    return payload


def claim_actions(payload: dict[str, Any]) -> list[SlackAction]:
    """The claim-button presses in a block_actions payload (value = the escalation id)."""
    if payload.get("type") != "block_actions":
        return []
    user = _dict(payload, "user")
    team = _dict(payload, "team")
    container = _dict(payload, "container")
    channel = str(container.get("channel_id") or _dict(payload, "channel").get("id") or "")
    message_ts = str(container.get("message_ts") or _dict(payload, "message").get("ts") or "")
    actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
    return [
        SlackAction(
            a["action_id"], str(a.get("value", ""))[:64], str(user.get("id", ""))[:64], str(team.get("id", ""))[:64],
            channel[:64], message_ts[:64], str(a.get("action_ts") or "")[:64],
        )
        for a in actions
        if isinstance(a, dict) and a.get("action_id") == CLAIM_ACTION
    ]  # fmt: skip


def _dict(mapping: dict[str, Any], name: str) -> dict[str, Any]:
    value = mapping.get(name)
    return value if isinstance(value, dict) else {}


def _escape(text: str) -> str:
    """Slack mrkdwn control characters, so a customer's words cannot forge links or mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escalation_notice(escalation: dict[str, Any], reason: str) -> tuple[str, list[dict[str, Any]]]:
    """The agents' channel notice of a new escalation: fallback text and blocks with a Claim button
    (action `helpdeck_claim_escalation`, value = the escalation id)."""
    text = (
        f"New escalation (priority {escalation['priority']}, {escalation['category']}): "
        f"{_escape(reason[:300]) or 'no reason given'}"
    )
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*{text}*\nConversation `{escalation['conversation_id']}`"},
        },
        {
            "type": "actions",
            "block_id": "helpdeck_escalation",
            "elements": [
                {
                    "type": "button",
                    "action_id": CLAIM_ACTION,
                    "text": {"type": "plain_text", "text": "Claim"},
                    "style": "primary",
                    "value": escalation["escalation_id"],
                }
            ],
        },
    ]
    return text, blocks


def claimed_notice(escalation: dict[str, Any], reason: str, agent_name: str) -> tuple[str, list[dict[str, Any]]]:
    """The same notice once claimed: the Claim button replaced by who took it."""
    text, blocks = escalation_notice(escalation, reason)
    claimed = f"Claimed by {_escape(agent_name)}"
    context = {"type": "context", "elements": [{"type": "mrkdwn", "text": f":white_check_mark: {claimed}"}]}
    return f"{text} ({claimed})", [blocks[0], context]
