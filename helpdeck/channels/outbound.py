"""Posting replies to the platforms: Slack's Web API through slack_sdk, Discord's REST API.

Every post is safe to repeat: a Slack reply carries the turn id in its message metadata and is
looked up in the thread before a retry posts again; a Discord reply edits one fixed message.
"""

from __future__ import annotations

import httpx
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

SLACK_API = "https://slack.com/api/"
DISCORD_API = "https://discord.com/api/v10"
REPLY_EVENT_TYPE = "helpdeck_reply"
NO_MENTIONS = {"parse": []}
# Slack errors that no retry will fix.
SLACK_PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "msg_too_long", "thread_not_found",
    "restricted_action", "invalid_arguments",
}  # fmt: skip


class ChannelRejected(Exception):
    """The platform refused the post for good (bad token, gone channel, expired interaction)."""


class ChannelUnavailable(Exception):
    """The platform could not be reached or asked us to slow down: try again later."""


def _slack_client(bot_token: str, api_base_url: str | None) -> AsyncWebClient:
    base = (api_base_url or SLACK_API).rstrip("/") + "/"
    return AsyncWebClient(token=bot_token, base_url=base, timeout=10)


def _slack_failure(exc: SlackApiError) -> Exception:
    error = str(exc.response.get("error", "")) if exc.response is not None else ""
    if error in SLACK_PERMANENT:
        return ChannelRejected(f"Slack refused the reply: {error}")
    return ChannelUnavailable(f"Slack failed: {error or exc}")


async def find_slack_reply(
    bot_token: str, api_base_url: str | None, channel: str, thread_ts: str, turn_id: str
) -> str | None:
    """The ts of a reply already posted for this turn (an earlier attempt that lost its answer)."""
    client = _slack_client(bot_token, api_base_url)
    cursor = None
    try:
        for _ in range(20):
            page = await client.conversations_replies(
                channel=channel, ts=thread_ts, include_all_metadata=True, limit=200, cursor=cursor
            )
            for message in page.get("messages", []):
                metadata = message.get("metadata") or {}
                payload = metadata.get("event_payload") or {}
                if metadata.get("event_type") == REPLY_EVENT_TYPE and payload.get("turn_id") == turn_id:
                    return str(message["ts"])
            cursor = (page.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
    except SlackApiError as exc:
        raise _slack_failure(exc) from exc
    except (httpx.HTTPError, OSError) as exc:
        raise ChannelUnavailable(f"Slack unreachable: {exc}") from exc
    return None


async def post_slack_reply(
    bot_token: str, api_base_url: str | None, channel: str, thread_ts: str, text: str, turn_id: str
) -> str:
    """Post in the thread; returns the message ts. Mentions stay inert (no link_names, parse none)."""
    client = _slack_client(bot_token, api_base_url)
    try:
        response = await client.chat_postMessage(
            channel=channel,
            thread_ts=thread_ts,
            text=text,
            mrkdwn=True,
            parse="none",
            link_names=False,
            unfurl_links=False,
            metadata={"event_type": REPLY_EVENT_TYPE, "event_payload": {"turn_id": turn_id}},
        )
    except SlackApiError as exc:
        raise _slack_failure(exc) from exc
    except Exception as exc:  # aiohttp/network errors surface as many types
        raise ChannelUnavailable(f"Slack unreachable: {exc}") from exc
    return str(response["ts"])


async def edit_discord_original(api_base_url: str | None, application_id: str, token: str, content: str) -> str:
    """Replace the deferred "thinking…" response of an interaction; returns the message id."""
    url = f"{(api_base_url or DISCORD_API).rstrip('/')}/webhooks/{application_id}/{token}/messages/@original"
    return await _discord_call("PATCH", url, {"content": content, "allowed_mentions": NO_MENTIONS}, None)


async def post_discord_message(
    api_base_url: str | None, bot_token: str, channel_id: str, reply_to: str, content: str
) -> str:
    """A bot message in a channel answering a mention (gateway path); returns the message id."""
    url = f"{(api_base_url or DISCORD_API).rstrip('/')}/channels/{channel_id}/messages"
    body = {
        "content": content,
        "allowed_mentions": NO_MENTIONS,
        "message_reference": {"message_id": reply_to, "fail_if_not_exists": False},
        # Discord drops a second create with the same nonce for a few minutes.
        "nonce": reply_to[-25:], "enforce_nonce": True,
    }  # fmt: skip
    return await _discord_call("POST", url, body, f"Bot {bot_token}")


async def _discord_call(method: str, url: str, body: dict, authorization: str | None) -> str:
    headers = {"Authorization": authorization} if authorization else {}
    try:
        async with httpx.AsyncClient(timeout=10) as client:
            response = await client.request(method, url, json=body, headers=headers)
    except httpx.HTTPError as exc:
        raise ChannelUnavailable(f"Discord unreachable: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise ChannelUnavailable(f"Discord answered {response.status_code}")
    if response.status_code >= 400:
        raise ChannelRejected(f"Discord refused the reply: {response.status_code} {response.text[:200]}")
    try:
        return str(response.json().get("id", ""))
    except ValueError:
        return ""
