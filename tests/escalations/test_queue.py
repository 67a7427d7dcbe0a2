"""The human agent queue through the API on the real stack: escalate, the bot falls silent,
claim with agent assist, reply, release, resolve and hand back; roles; live queue changes."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
from sqlmodel import col, select

from helpdeck.services.queue_feed import conversation_channel
from helpdeck.tables import Conversation, Event
from tests.conftest import Api, Tenant, new_conversation
from tests.escalations.support import escalate, make_agent


async def _status(api: Api, conversation: str) -> str:
    async with api.runtime.db.session() as session:
        row = await session.get(Conversation, uuid.UUID(conversation))
    assert row is not None
    return row.status


async def _event_kinds(api: Api, conversation: str) -> list[str]:
    async with api.runtime.db.session() as session:
        rows = await session.exec(
            select(Event.kind).where(Event.conversation_id == uuid.UUID(conversation)).order_by(col(Event.created_at))
        )
        return list(rows)


async def _messages(tenant: Tenant, conversation: str) -> list[dict]:
    return (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]


async def test_once_escalated_the_bot_records_the_customer_but_never_answers(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "My parcel is lost"})
    escalation = await escalate(tenant, conversation, reason="customer asked for a person", category="complaint")
    assert escalation["status"] == "waiting" and escalation["priority"] == 2
    assert await _status(api, conversation) == "escalated"
    turn = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "Hello? Anyone?"})
    assert turn.status_code == 200 and turn.json()["message"] is None
    roles = [m["role"] for m in await _messages(tenant, conversation)]
    assert roles == ["user", "assistant", "user"]
    assert "conversation.escalated" in await _event_kinds(api, conversation)


async def test_escalating_an_escalated_conversation_attaches_to_the_open_escalation(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    first, second = await asyncio.gather(
        *(tenant.client.post(f"/v1/conversations/{conversation}/escalate") for _ in range(2))
    )
    assert sorted([first.status_code, second.status_code]) == [200, 201]
    assert first.json()["id"] == second.json()["id"]


async def test_claim_gives_the_agent_a_summary_the_reason_and_a_draft(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "Where is order 77?"})
    escalation = await escalate(tenant, conversation, reason="asked twice", category="missing_knowledge")
    agent = await make_agent(api, tenant, name="Grace")
    claimed = await agent.client.post(f"/v1/escalations/{escalation['id']}/claim")
    assert claimed.status_code == 200, claimed.text
    body = claimed.json()
    assert body["status"] == "claimed" and body["claimed_by"] == agent.id
    assist = body["assist"]
    assert assist["reason"] == {"category": "missing_knowledge", "text": "asked twice"}
    assert [m["content"] for m in assist["recent_messages"]][0] == "Where is order 77?"
    assert assist["draft_reply"] and assist["draft_source"].startswith("primary:")
    assert "escalation.claimed" in await _event_kinds(api, conversation)


async def test_the_draft_is_offline_and_honest_when_the_company_keeps_data_in_house(
    api: Api, admin: httpx.AsyncClient
) -> None:
    from tests.conftest import make_tenant

    offline = await make_tenant(api, admin, settings={"offline_only": True})
    conversation = await new_conversation(offline)
    await offline.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "Refund please"})
    escalation = await escalate(offline, conversation)
    agent = await make_agent(api, offline, name="Linus")
    assist = (await agent.client.post(f"/v1/escalations/{escalation['id']}/claim")).json()["assist"]
    assert assist["draft_source"] == "offline"
    assert "Linus" in assist["draft_reply"] and "Refund please" in assist["draft_reply"]
    await offline.client.aclose()


async def test_the_agents_reply_lands_in_the_conversation_in_order_and_goes_out_live(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "I need a human"})
    escalation = await escalate(tenant, conversation)
    agent = await make_agent(api, tenant, name="Ada")
    await agent.client.post(f"/v1/escalations/{escalation['id']}/claim")
    pubsub = api.runtime.redis.pubsub()
    await pubsub.subscribe(conversation_channel(conversation))
    await pubsub.get_message(timeout=1)  # the subscribe confirmation
    sent = await agent.client.post(f"/v1/escalations/{escalation['id']}/messages", json={"content": "Hi, Ada here."})
    assert sent.status_code == 201, sent.text
    live = None
    for _ in range(50):
        live = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
        if live:
            break
    await pubsub.aclose()
    assert live is not None
    published = json.loads(live["data"])
    assert published["type"] == "message" and published["message"]["content"] == "Hi, Ada here."
    assert published["message"]["role"] == "agent" and published["escalation_id"] == escalation["id"]
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "Thanks Ada"})
    messages = await _messages(tenant, conversation)
    assert [m["role"] for m in messages] == ["user", "assistant", "agent", "user"]
    assert [m["content"] for m in messages][2:] == ["Hi, Ada here.", "Thanks Ada"]
    assert [m["seq"] for m in messages] == list(range(1, len(messages) + 1))
    detail = (await agent.client.get(f"/v1/escalations/{escalation['id']}")).json()
    assert detail["sla"]["state"] == "met" and detail["sla"]["first_response_at"]
    console_view = await agent.client.get(f"/v1/escalations/{escalation['id']}/messages")
    assert [m["content"] for m in console_view.json()["items"]] == [m["content"] for m in messages]
    assert "escalation.agent_message" in await _event_kinds(api, conversation)


async def test_only_the_claiming_agent_replies_and_nobody_before_a_claim(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    escalation = await escalate(tenant, conversation)
    ada, bob = await make_agent(api, tenant), await make_agent(api, tenant)
    url = f"/v1/escalations/{escalation['id']}"
    early = await ada.client.post(f"{url}/messages", json={"content": "too soon"})
    assert early.status_code == 409 and early.json()["code"] == "not_claimed"
    await ada.client.post(f"{url}/claim")
    intruder = await bob.client.post(f"{url}/messages", json={"content": "me too"})
    assert intruder.status_code == 409 and intruder.json()["code"] == "claimed_by_another_agent"
    assert (await bob.client.post(f"{url}/release")).json()["code"] == "claimed_by_another_agent"
    assert [m["role"] for m in await _messages(tenant, conversation)] == []


async def test_release_puts_it_back_in_the_queue_for_another_agent(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    escalation = await escalate(tenant, conversation)
    ada, bob = await make_agent(api, tenant), await make_agent(api, tenant)
    url = f"/v1/escalations/{escalation['id']}"
    await ada.client.post(f"{url}/claim")
    released = await ada.client.post(f"{url}/release")
    assert (
        released.status_code == 200 and released.json()["status"] == "waiting" and released.json()["claimed_by"] is None
    )
    waiting = (await bob.client.get("/v1/escalations", params={"status": "waiting"})).json()["items"]
    assert escalation["id"] in {e["id"] for e in waiting}
    assert (await bob.client.post(f"{url}/claim")).json()["claimed_by"] == bob.id
    assert "escalation.released" in await _event_kinds(api, conversation)


async def test_resolving_with_hand_back_lets_the_bot_answer_again(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    escalation = await escalate(tenant, conversation)
    agent = await make_agent(api, tenant)
    url = f"/v1/escalations/{escalation['id']}"
    await agent.client.post(f"{url}/claim")
    resolved = await agent.client.post(f"{url}/resolve", json={"resolution": "refunded", "hand_back_to_bot": True})
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    assert resolved.json()["handed_back_to_bot"] is True and resolved.json()["resolution"] == "refunded"
    assert await _status(api, conversation) == "active"
    turn = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "One more thing"})
    assert turn.json()["message"]["role"] == "assistant"
    again = await agent.client.post(f"{url}/resolve")
    assert again.status_code == 409 and again.json()["code"] == "already_resolved"
    assert (await agent.client.post(f"{url}/claim")).json()["code"] == "already_resolved"
    assert "conversation.resolved" in await _event_kinds(api, conversation)
    # The conversation can be escalated again later: a new escalation, not the old one.
    assert (await escalate(tenant, conversation))["id"] != escalation["id"]


async def test_resolving_without_hand_back_closes_the_conversation(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    escalation = await escalate(tenant, conversation)
    resolved = await tenant.client.post(f"/v1/escalations/{escalation['id']}/resolve", json={"resolution": "spam"})
    assert resolved.status_code == 200 and resolved.json()["handed_back_to_bot"] is False
    assert await _status(api, conversation) == "closed"


async def test_an_analyst_reads_the_queue_but_cannot_act(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    escalation = await escalate(tenant, conversation)
    analyst = await make_agent(api, tenant, "analyst")
    url = f"/v1/escalations/{escalation['id']}"
    assert (await analyst.client.get("/v1/escalations")).status_code == 200
    assert (await analyst.client.get(url)).status_code == 200
    for path, body in (("claim", None), ("messages", {"content": "hi"}), ("release", None), ("resolve", {})):
        response = await analyst.client.post(f"{url}/{path}", json=body)
        assert response.status_code == 403 and response.json()["code"] == "forbidden_role", path
    refused = await analyst.client.post(f"/v1/conversations/{conversation}/escalate")
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden_role"
    assert (await analyst.client.get(url)).json()["status"] == "waiting"


async def test_the_queue_is_ordered_by_priority_then_waiting_time(api: Api, tenant: Tenant) -> None:
    low = await escalate(tenant, await new_conversation(tenant), priority=4)
    urgent_old = await escalate(tenant, await new_conversation(tenant), priority=1)
    normal = await escalate(tenant, await new_conversation(tenant), priority=3)
    urgent_new = await escalate(tenant, await new_conversation(tenant), priority=1)
    agent = await make_agent(api, tenant)
    items = (await agent.client.get("/v1/escalations", params={"status": "waiting"})).json()["items"]
    order = [e["id"] for e in items]
    assert order == [urgent_old["id"], urgent_new["id"], normal["id"], low["id"]]
    assert all(e["wait_seconds"] >= 0 and e["sla"]["state"] == "on_track" for e in items)


async def test_queue_changes_stream_to_a_console_and_resume_after_reconnect(api: Api, tenant: Tenant) -> None:
    agent = await make_agent(api, tenant)
    events: list[tuple[str, dict]] = []

    async def read(last_event_id: str | None, wanted: int) -> None:
        headers = {"Last-Event-ID": last_event_id} if last_event_id else {}
        async with agent.client.stream("GET", "/v1/escalations/events", headers=headers) as response:
            assert response.status_code == 200
            event_id = None
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    events.append((event_id or "", json.loads(line[6:])))
                    if len(events) >= wanted:
                        return

    reader = asyncio.create_task(read(None, 1))
    await asyncio.sleep(0.3)
    escalation = await escalate(tenant, await new_conversation(tenant))
    await asyncio.wait_for(reader, 10)
    assert events[0][1]["escalation"]["id"] == escalation["id"] and events[0][1]["change"] == "opened"
    await agent.client.post(f"/v1/escalations/{escalation['id']}/claim")  # happens while disconnected
    resumed = asyncio.create_task(read(events[0][0], 3))
    await asyncio.wait_for(resumed, 10)
    assert [e[1]["change"] for e in events[1:3]] == ["sla", "claimed"]
    assert events[2][1]["escalation"]["claimed_by"] == agent.id


async def test_bad_queue_input_gets_problem_details_and_writes_nothing(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    url = f"/v1/conversations/{conversation}/escalate"
    for body, code in (
        ({"category": "boredom"}, "validation_error"),
        ({"priority": 0}, "validation_error"),
        ({"priority": 5}, "validation_error"),
        ({"reason": "x" * 1001}, "validation_error"),
        ({"urgent": True}, "unknown_field"),
    ):
        response = await tenant.client.post(url, json=body)
        assert response.status_code == 422 and response.json()["code"] == code, (body, response.text)
    assert await _status(api, conversation) == "active"
    escalation = await escalate(tenant, conversation)
    agent = await make_agent(api, tenant)
    await agent.client.post(f"/v1/escalations/{escalation['id']}/claim")
    messages = f"/v1/escalations/{escalation['id']}/messages"
    for body, code in (
        ({"content": "   "}, "validation_error"),
        ({}, "validation_error"),
        ({"content": "x" * 4001}, "message_too_long"),
    ):
        response = await agent.client.post(messages, json=body)
        assert response.status_code == 422 and response.json()["code"] == code, (body, response.text)
    assert (await agent.client.get("/v1/escalations", params={"status": "lost"})).status_code == 422
    assert (await agent.client.get("/v1/escalations/not-a-uuid")).status_code == 422
    assert (await agent.client.get(f"/v1/escalations/{uuid.uuid4()}")).status_code == 404
    assert (await agent.client.get("/v1/escalations/events", headers={"Last-Event-ID": "bogus"})).status_code == 422
    bad_json = await agent.client.post(
        f"/v1/escalations/{escalation['id']}/resolve", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert bad_json.status_code == 400 and bad_json.json()["code"] == "invalid_json"
    assert (await tenant.client.post(f"/v1/conversations/{uuid.uuid4()}/escalate")).status_code == 404
    assert [m["role"] for m in await _messages(tenant, conversation)] == []
    assert (await agent.client.get(f"/v1/escalations/{escalation['id']}")).json()["status"] == "claimed"


async def test_a_secret_key_cannot_claim_for_nobody(tenant: Tenant) -> None:
    escalation = await escalate(tenant, await new_conversation(tenant))
    response = await tenant.client.post(f"/v1/escalations/{escalation['id']}/claim")
    assert response.status_code == 403
