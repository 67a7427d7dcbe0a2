"""Discord interactions read into what a turn needs: PING, and the `/ask` slash command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from helpdeck.channels.slack import MalformedRequest

PING, APPLICATION_COMMAND = 1, 2
PONG, CHANNEL_MESSAGE, DEFERRED_CHANNEL_MESSAGE = 1, 4, 5
EPHEMERAL = 1 << 6
ASK_COMMAND = "ask"


@dataclass(frozen=True)
class AskCommand:
    interaction_id: str
    token: str
    channel_id: str
    user_id: str
    guild_id: str
    question: str


def _snowflake(value: object, name: str) -> str:
    if not isinstance(value, str) or not value.isdigit() or len(value) > 25:
        raise MalformedRequest(f"`{name}` is missing or malformed")
    return value


def interaction_type(payload: dict[str, Any]) -> int:
    kind = payload.get("type")
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise MalformedRequest("`type` is missing")
    return kind


def ask_command(payload: dict[str, Any]) -> AskCommand | None:
    """The `/ask question:<text>` command, or None for any other command."""
    data = payload.get("data")
    if not isinstance(data, dict) or data.get("name") != ASK_COMMAND:
        return None
    options = data.get("options") if isinstance(data.get("options"), list) else []
    question = next((o.get("value") for o in options if isinstance(o, dict) and o.get("name") == "question"), None)
    if not isinstance(question, str) or not question.strip():
        raise MalformedRequest("/ask needs a `question` option")
    member = payload.get("member") if isinstance(payload.get("member"), dict) else {}
    user = member.get("user") if isinstance(member.get("user"), dict) else payload.get("user")
    if not isinstance(user, dict):
        raise MalformedRequest("the interaction names no user")
    token = payload.get("token")
    if not isinstance(token, str) or not token or len(token) > 500:
        raise MalformedRequest("`token` is missing")
    guild = payload.get("guild_id")
    return AskCommand(
        interaction_id=_snowflake(payload.get("id"), "id"),
        token=token,
        channel_id=_snowflake(payload.get("channel_id"), "channel_id"),
        user_id=_snowflake(user.get("id"), "user.id"),
        guild_id=guild if isinstance(guild, str) else "",
        question=question.strip(),
    )
