"""Slack end to end: signed Events API requests in, replies out to a local stand-in for the
Slack Web API (tests.channels.standins.SlackStandIn), signatures made by Slack's documented
scheme. Valid requests are answered in the thread; forged, stale, replayed and malformed ones
are refused and record nothing; Slack's retries never make a second turn."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from urllib.parse import urlencode

import httpx
import pytest
from sqlmodel import select

from helpdeck.tables import ChannelDelivery
from tests.channels.conftest import recorded
from tests.channels.standins import SlackStandIn, slack_headers
from tests.conftest import Api, Tenant

SECRET = "slack-signing-secret-1234"
BOT = "UBOT0001"


@pytest.fixture
async def slack_tenant(tenant: Tenant, slack_api: SlackStandIn) -> Tenant:
    body = {"signing_secret": SECRET, "bot_token": "xoxb-test-token", "api_base_url": slack_api.api_base_url}
    response = await tenant.client.put("/v1/channels/slack", json=body)
    assert response.status_code == 200, response.text
    return tenant


def mention(
    text: str,
    *,
    event_id: str | None = None,
    ts: str = "1700000100.000200",
    thread_ts: str | None = None,
    channel: str = "C0SUPPORT",
    **event_extra: object,
) -> bytes:
    event = {
        "type": "app_mention",
        "user": "U0CUSTOMER",
        "text": f"<@{BOT}> {text}",
        "ts": ts,
        "channel": channel,
        "event_ts": ts,
        **({"thread_ts": thread_ts} if thread_ts else {}),
        **event_extra,
    }
    payload = {
        "token": "x",
        "team_id": "T0TEAM",
        "api_app_id": "A0APP",
        "type": "event_callback",
        "event_id": event_id or f"Ev{uuid.uuid4().hex[:10].upper()}",
        "event_time": int(time.time()),
        "event": event,
    }
    return json.dumps(payload).encode()


async def send(api: Api, company_id: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        return await client.post(f"/channels/slack/{company_id}/events", content=body, headers=headers)


async def test_url_verification_answers_the_challenge(api: Api, slack_tenant: Tenant) -> None:
    body = json.dumps(
        {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "token": "x"}
    ).encode()
    response = await send(api, slack_tenant.id, body, slack_headers(SECRET, body))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


async def test_mention_is_answered_in_its_thread_with_mrkdwn(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    body = mention("what are your <https://shop.example|opening> hours & prices?", ts="1700000200.000300")
    response = await send(api, slack_tenant.id, body, slack_headers(SECRET, body))
    assert response.status_code == 200, response.text
    posts = await slack_api.wait_for(lambda c: c["body"].get("thread_ts") == "1700000200.000300")
    assert len(posts) == 1
    posted = posts[0]["body"]
    assert posted["channel"] == "C0SUPPORT"
    # The stand-in model echoes the question; Slack's escapes are applied to it on the way out.
    assert posted["text"] == "Echo: what are your opening (https://shop.example) hours &amp; prices?"
    assert posted["link_names"] is False and posted["parse"] == "none"
    conversations = (await slack_tenant.client.get("/v1/conversations", params={"channel": "slack"})).json()["items"]
    assert len(conversations) == 1
    messages = (await slack_tenant.client.get(f"/v1/conversations/{conversations[0]['id']}/messages")).json()["items"]
    assert [m["role"] for m in messages] == ["user", "assistant"]


async def test_a_thread_is_one_conversation(api: Api, slack_tenant: Tenant, slack_api: SlackStandIn) -> None:
    first = mention("first question", ts="1700000300.000100")
    await send(api, slack_tenant.id, first, slack_headers(SECRET, first))
    await slack_api.wait_for(lambda c: c["body"]["text"] == "Echo: first question")
    follow_up = mention("second question", ts="1700000301.000100", thread_ts="1700000300.000100")
    await send(api, slack_tenant.id, follow_up, slack_headers(SECRET, follow_up))
    posts = await slack_api.wait_for(lambda c: c["body"]["text"] == "Echo: second question")
    assert posts[0]["body"]["thread_ts"] == "1700000300.000100"
    conversations = (await slack_tenant.client.get("/v1/conversations", params={"channel": "slack"})).json()["items"]
    assert len(conversations) == 1
    messages = (await slack_tenant.client.get(f"/v1/conversations/{conversations[0]['id']}/messages")).json()["items"]
    assert [m["content"] for m in messages] == [
        "first question",
        "Echo: first question",
        "second question",
        "Echo: second question",
    ]


async def test_direct_message_is_answered_and_bot_messages_and_edits_are_not(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    def dm(**event: object) -> bytes:
        base = {
            "type": "message",
            "channel_type": "im",
            "channel": "D0DM",
            "user": "U0CUSTOMER",
            "ts": "1700000400.000100",
        }
        return json.dumps(
            {
                "type": "event_callback",
                "team_id": "T0TEAM",
                "event_id": f"Ev{uuid.uuid4().hex[:8]}",
                "event": {**base, **event},
            }
        ).encode()

    ignored = [
        dm(text="from a bot", bot_id="B0BOT"),
        dm(text="edited", subtype="message_changed"),
        dm(text="in a channel", channel_type="channel"),
        dm(text=f"<@{BOT}>"),
    ]
    for body in ignored:
        response = await send(api, slack_tenant.id, body, slack_headers(SECRET, body))
        assert response.status_code == 200
    assert (await recorded(api, slack_tenant.id))["conversations"] == 0
    body = dm(text="hello in private")
    assert (await send(api, slack_tenant.id, body, slack_headers(SECRET, body))).status_code == 200
    posts = await slack_api.wait_for(lambda c: c["body"]["text"] == "Echo: hello in private")
    assert posts[0]["body"]["channel"] == "D0DM" and posts[0]["body"]["thread_ts"] == "1700000400.000100"


async def test_slack_retries_never_make_a_second_turn(api: Api, slack_tenant: Tenant, slack_api: SlackStandIn) -> None:
    body = mention("only once please", event_id="EvRETRY0001", ts="1700000500.000100")
    assert (await send(api, slack_tenant.id, body, slack_headers(SECRET, body))).status_code == 200
    for attempt in (1, 2):
        headers = {
            **slack_headers(SECRET, body),
            "X-Slack-Retry-Num": str(attempt),
            "X-Slack-Retry-Reason": "http_timeout",
        }
        assert (await send(api, slack_tenant.id, body, headers)).status_code == 200
    await slack_api.wait_for(lambda c: c["body"]["text"] == "Echo: only once please")
    await asyncio.sleep(1.0)  # give a wrongly started second turn the chance to post
    assert len([c for c in slack_api.posts() if c["body"]["text"] == "Echo: only once please"]) == 1
    counts = await recorded(api, slack_tenant.id)
    assert counts == {"conversations": 1, "messages": 2, "deliveries": 1}


async def test_reply_posted_but_answer_lost_is_not_posted_twice(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    slack_api.fail_next("before", "after")  # first attempt: Slack down; second: posted, answer lost
    body = mention("survive the flaky network", ts="1700000600.000100")
    assert (await send(api, slack_tenant.id, body, slack_headers(SECRET, body))).status_code == 200
    delivery = await _wait_delivery(api, slack_tenant.id, "posted")
    posts = [c for c in slack_api.posts() if c["body"]["text"] == "Echo: survive the flaky network"]
    assert len(posts) == 1
    assert delivery.posted_ref == posts[0]["ts"]


async def test_permanent_slack_error_marks_the_delivery_failed(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    slack_api.fail_next("channel_not_found")
    body = mention("into the void", ts="1700000700.000100")
    assert (await send(api, slack_tenant.id, body, slack_headers(SECRET, body))).status_code == 200
    delivery = await _wait_delivery(api, slack_tenant.id, "failed")
    assert "channel_not_found" in delivery.error
    assert slack_api.posts() == []


async def _wait_delivery(api: Api, company_id: str, status: str) -> ChannelDelivery:
    for _ in range(600):
        async with api.runtime.db.session() as session:
            rows = list(
                await session.exec(select(ChannelDelivery).where(ChannelDelivery.company_id == uuid.UUID(company_id)))
            )
        if rows and rows[0].status == status:
            return rows[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"no delivery reached {status}: {rows}")


@pytest.mark.parametrize("case", ["forged", "wrong_secret", "stale", "future", "missing", "unsigned_body_change"])
async def test_bad_signatures_are_refused_and_record_nothing(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn, case: str
) -> None:
    body = mention("let me in")
    headers = slack_headers(SECRET, body)
    if case == "forged":
        headers["X-Slack-Signature"] = "v0=" + "0" * 64
    elif case == "wrong_secret":
        headers = slack_headers("another-companys-secret", body)
    elif case == "stale":
        headers = slack_headers(SECRET, body, timestamp=int(time.time()) - 360)
    elif case == "future":
        headers = slack_headers(SECRET, body, timestamp=int(time.time()) + 360)
    elif case == "missing":
        headers = {"content-type": "application/json"}
    else:
        body = mention("something else entirely")
    response = await send(api, slack_tenant.id, body, headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == ("stale_request" if case in ("stale", "future") else "invalid_signature")
    await asyncio.sleep(0.3)
    assert await recorded(api, slack_tenant.id) == {"conversations": 0, "messages": 0, "deliveries": 0}
    assert slack_api.posts() == []


async def test_replayed_request_is_refused(api: Api, slack_tenant: Tenant, slack_api: SlackStandIn) -> None:
    body = json.dumps({"type": "url_verification", "challenge": "abc"}).encode()
    headers = slack_headers(SECRET, body)
    assert (await send(api, slack_tenant.id, body, headers)).status_code == 200
    replay = await send(api, slack_tenant.id, body, headers)
    assert replay.status_code == 401 and replay.json()["code"] == "replayed_request"
    event = mention("asked once")
    event_headers = slack_headers(SECRET, event)
    assert (await send(api, slack_tenant.id, event, event_headers)).status_code == 200
    await slack_api.wait_for(lambda c: c["body"]["text"] == "Echo: asked once")
    assert (await send(api, slack_tenant.id, event, event_headers)).status_code == 401
    assert await recorded(api, slack_tenant.id) == {"conversations": 1, "messages": 2, "deliveries": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[1, 2]",
        json.dumps({"type": "event_callback", "event_id": "Ev1"}).encode(),
        json.dumps(
            {"type": "event_callback", "event_id": "Ev2", "event": {"type": "app_mention", "text": "hi"}}
        ).encode(),
    ],
)
async def test_signed_but_malformed_events_are_400_and_record_nothing(
    api: Api, slack_tenant: Tenant, body: bytes
) -> None:
    response = await send(api, slack_tenant.id, body, slack_headers(SECRET, body))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "malformed_request"
    assert await recorded(api, slack_tenant.id) == {"conversations": 0, "messages": 0, "deliveries": 0}


async def test_unknown_or_unconfigured_company_is_404(api: Api, tenant: Tenant) -> None:
    body = mention("hello")
    for company in (str(uuid.uuid4()), "not-a-uuid", tenant.id):
        response = await send(api, company, body, slack_headers(SECRET, body))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


async def test_interactions_endpoint_verifies_like_events(api: Api, slack_tenant: Tenant) -> None:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0AGENT"},
        "team": {"id": "T0TEAM"},
        "actions": [{"action_id": "helpdeck_claim_escalation", "value": str(uuid.uuid4())}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    headers = {**slack_headers(SECRET, body), "content-type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=api.url) as client:
        url = f"/channels/slack/{slack_tenant.id}/interactions"
        ok = await client.post(url, content=body, headers=headers)
        assert ok.status_code == 200, ok.text
        assert ok.json()["claims"][0]["escalation_id"] == payload["actions"][0]["value"]
        forged = await client.post(url, content=body, headers={**headers, "X-Slack-Signature": "v0=" + "1" * 64})
        assert forged.status_code == 401
        junk = b"payload=%7Bnot-json"
        bad = await client.post(
            url,
            content=junk,
            headers={**slack_headers(SECRET, junk), "content-type": "application/x-www-form-urlencoded"},
        )
        assert bad.status_code == 400
