"""Posting replies to the platforms: Slack's Web API through slack_sdk, Discord's REST API.

Every post is safe to repeat: a Slack reply carries the turn id in its message metadata and is
looked up in the thread before a retry posts again; a Discord reply edits one fixed message.

A company may point `api_base_url` elsewhere (tests use stand-ins), so every call goes through
the same SSRF rule as webhooks (helpdeck.safe_http): the base URL is checked before each call,
and connections are made only to the checked addresses (pinned, so DNS rebinding cannot move
them). `allow_private` (HELPDECK_ALLOW_PRIVATE_URLS) lifts it for development and tests.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpcore
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from helpdeck.safe_http import BlockedAddress, PinnedBackend, UnsafeUrl, check_url, pinned_aiohttp_session

SLACK_API = "https://slack.com/api/"
DISCORD_API = "https://discord.com/api/v10"
REPLY_EVENT_TYPE = "helpdeck_reply"
NOTICE_EVENT_TYPE = "helpdeck_escalation_notice"
NO_MENTIONS = {"parse": []}
# Slack errors that no retry will fix.
SLACK_PERMANENT = {
    "channel_not_found", "not_in_channel", "is_archived", "invalid_auth", "not_authed", "account_inactive",
    "token_revoked", "token_expired", "no_permission", "missing_scope", "msg_too_long", "thread_not_found",
    "restricted_action", "invalid_arguments", "user_not_found", "user_not_visible", "message_not_found",
    "cant_update_message", "edit_window_closed",
}  # fmt: skip


class ChannelRejected(Exception):
    """The platform refused the post for good (bad token, gone channel, expired interaction)."""


class UnsafeTarget(ChannelRejected):
    """The configured API base is not one we may call (SSRF rule)."""


class ChannelUnavailable(Exception):
    """The platform could not be reached or asked us to slow down: try again later."""


async def check_api_base(api_base_url: str | None, allow_private: bool) -> None:
    """Refuse a configured API base that is not https or reaches a non-public address, before
    any call; a name that does not resolve now is worth retrying, the rest is not."""
    if api_base_url is None:
        return  # the platform's own address
    try:
        await check_url(api_base_url, allow_private, code_prefix="channel_url", field="api_base_url")
    except UnsafeUrl as exc:
        if exc.code == "channel_url_unresolvable":
            raise ChannelUnavailable(f"the API base does not resolve: {exc.detail}") from None
        raise UnsafeTarget(f"refused: {exc.detail}") from None


@asynccontextmanager
async def _slack_client(bot_token: str, api_base_url: str | None, allow_private: bool) -> AsyncIterator[AsyncWebClient]:
    """A Web API client on the checked base; whatever fails inside the block is mapped once
    here: Slack's own errors by `_slack_failure`, network errors (many types) as unavailable."""
    try:
        await check_api_base(api_base_url, allow_private)
        base = (api_base_url or SLACK_API).rstrip("/") + "/"
        async with pinned_aiohttp_session(allow_private) as session:
            yield AsyncWebClient(token=bot_token, base_url=base, timeout=10, session=session)
    except SlackApiError as exc:
        raise _slack_failure(exc) from exc
    except (ChannelRejected, ChannelUnavailable):
        raise
    except Exception as exc:  # aiohttp/network errors surface as many types
        raise ChannelUnavailable(f"Slack unreachable: {exc}") from exc


def _slack_failure(exc: SlackApiError) -> Exception:
    error = str(exc.response.get("error", "")) if exc.response is not None else ""
    if error in SLACK_PERMANENT:
        return ChannelRejected(f"Slack refused the reply: {error}")
    return ChannelUnavailable(f"Slack failed: {error or exc}")


async def find_slack_reply(
    bot_token: str, api_base_url: str | None, channel: str, thread_ts: str, turn_id: str, allow_private: bool
) -> str | None:
    """The ts of a reply already posted for this turn (an earlier attempt that lost its answer)."""
    cursor = None
    async with _slack_client(bot_token, api_base_url, allow_private) as client:
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
    return None


async def post_slack_reply(
    bot_token: str, api_base_url: str | None, channel: str, thread_ts: str, text: str, turn_id: str,
    allow_private: bool,
) -> str:
    """Post in the thread; returns the message ts. Mentions stay inert (no link_names, parse none)."""
    async with _slack_client(bot_token, api_base_url, allow_private) as client:
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
    return str(response["ts"])


async def _slack_call(
    bot_token: str, api_base_url: str | None, allow_private: bool, method: str, **kwargs: Any
) -> dict:
    """One Web API call through slack_sdk's method of that name (`chat_update`...), failures
    mapped like replies'."""
    async with _slack_client(bot_token, api_base_url, allow_private) as client:
        response = await getattr(client, method.replace(".", "_"))(**kwargs)
    return dict(response.data) if isinstance(response.data, dict) else {}


async def post_slack_notice(
    bot_token: str, api_base_url: str | None, channel: str, text: str, blocks: list[dict], notice_key: str,
    allow_private: bool, retrying: bool,
) -> str:
    """Post an agents' channel notice once: it carries `notice_key` in its metadata, and a retry
    first looks for it among the channel's recent messages. Returns the message ts."""
    if retrying:
        page = await _slack_call(
            bot_token, api_base_url, allow_private, "conversations.history",
            channel=channel, include_all_metadata=True, limit=200,
        )
        for message in page.get("messages", []):
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == NOTICE_EVENT_TYPE and (metadata.get("event_payload") or {}).get(
                "key"
            ) == notice_key:
                return str(message["ts"])
    posted = await _slack_call(
        bot_token, api_base_url, allow_private, "chat.postMessage",
        channel=channel, text=text, blocks=blocks, unfurl_links=False, link_names=False,
        metadata={"event_type": NOTICE_EVENT_TYPE, "event_payload": {"key": notice_key}},
    )
    return str(posted.get("ts", ""))


async def update_slack_message(
    bot_token: str, api_base_url: str | None, channel: str, ts: str, text: str, blocks: list[dict],
    allow_private: bool,
) -> None:
    await _slack_call(bot_token, api_base_url, allow_private, "chat.update", channel=channel, ts=ts, text=text,
                      blocks=blocks)  # fmt: skip


async def post_slack_ephemeral(
    bot_token: str, api_base_url: str | None, channel: str, user: str, text: str, allow_private: bool
) -> None:
    """A message only `user` sees, in `channel`."""
    await _slack_call(bot_token, api_base_url, allow_private, "chat.postEphemeral", channel=channel, user=user,
                      text=text)  # fmt: skip


async def slack_user_email(bot_token: str, api_base_url: str | None, user: str, allow_private: bool) -> str | None:
    """The email of a Slack user (users.info, scope users:read.email); None when Slack has none."""
    try:
        info = await _slack_call(bot_token, api_base_url, allow_private, "users.info", user=user)
    except UnsafeTarget:
        raise
    except ChannelRejected:
        return None  # user_not_found and friends: not someone we can map
    profile = (info.get("user") or {}).get("profile") or {}
    email = profile.get("email")
    return email.strip().lower() if isinstance(email, str) and email.strip() else None


async def edit_discord_original(
    api_base_url: str | None, application_id: str, token: str, content: str, allow_private: bool
) -> str:
    """Replace the deferred "thinking…" response of an interaction; returns the message id."""
    await check_api_base(api_base_url, allow_private)
    url = f"{(api_base_url or DISCORD_API).rstrip('/')}/webhooks/{application_id}/{token}/messages/@original"
    body = {"content": content, "allowed_mentions": NO_MENTIONS}
    return await _discord_call("PATCH", url, body, None, allow_private)


async def post_discord_message(
    api_base_url: str | None, bot_token: str, channel_id: str, reply_to: str, content: str, allow_private: bool
) -> str:
    """A bot message in a channel answering a mention (gateway path); returns the message id."""
    await check_api_base(api_base_url, allow_private)
    url = f"{(api_base_url or DISCORD_API).rstrip('/')}/channels/{channel_id}/messages"
    body = {
        "content": content,
        "allowed_mentions": NO_MENTIONS,
        "message_reference": {"message_id": reply_to, "fail_if_not_exists": False},
        # Discord drops a second create with the same nonce for a few minutes.
        "nonce": reply_to[-25:], "enforce_nonce": True,
    }  # fmt: skip
    return await _discord_call("POST", url, body, f"Bot {bot_token}", allow_private)


async def _discord_call(method: str, url: str, body: dict, authorization: str | None, allow_private: bool) -> str:
    headers = [(b"content-type", b"application/json"), (b"user-agent", b"DiscordBot (helpdeck, 1)")]
    if authorization:
        headers.append((b"Authorization", authorization.encode()))
    timeouts = {"connect": 10.0, "read": 10.0, "write": 10.0, "pool": 10.0}
    try:
        async with httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(), network_backend=PinnedBackend(allow_private)
        ) as pool:
            response = await pool.request(
                method, url, headers=headers, content=json.dumps(body).encode(), extensions={"timeout": timeouts}
            )
    except BlockedAddress as exc:  # the name was rebound to a private address since the check
        raise ChannelUnavailable(f"refused: {exc}") from exc
    except (httpcore.NetworkError, httpcore.TimeoutException, httpcore.ProtocolError, OSError) as exc:
        raise ChannelUnavailable(f"Discord unreachable: {type(exc).__name__}: {exc}") from exc
    status = response.status
    if status == 429 or status >= 500:
        raise ChannelUnavailable(f"Discord answered {status}")
    text = response.content.decode("utf-8", "replace")
    if status >= 400:
        raise ChannelRejected(f"Discord refused the reply: {status} {text[:200]}")
    try:
        return str(json.loads(text).get("id", ""))
    except (ValueError, AttributeError):
        return ""
