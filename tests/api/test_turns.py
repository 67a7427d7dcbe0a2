"""A user turn through the API: recorded, answered, idempotent, ordered, streamed."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from helpdeck.tables import Conversation
from tests.conftest import Api, Tenant, new_conversation


async def test_message_is_answered_and_both_sides_are_stored(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    response = await tenant.client.post(
        f"/v1/conversations/{conversation}/messages", json={"content": "Where is my parcel?"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"]["role"] == "assistant"
    assert body["message"]["content"] == "Echo: Where is my parcel?"
    assert body["message"]["metadata"]["provider"] == "primary"
    assert body["message"]["metadata"]["prompt_tokens"] > 0
    assert body["user_message"]["content"] == "Where is my parcel?"
    listed = (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
    assert [(m["role"], m["content"]) for m in listed] == [
        ("user", "Where is my parcel?"),
        ("assistant", "Echo: Where is my parcel?"),
    ]


async def test_retry_with_same_idempotency_key_returns_first_reply_and_records_once(
    tenant: Tenant, fake_primary
) -> None:
    conversation = await new_conversation(tenant)
    url = f"/v1/conversations/{conversation}/messages"
    headers = {"Idempotency-Key": "client-msg-1"}
    first, second = await asyncio.gather(
        tenant.client.post(url, json={"content": "Cancel my order"}, headers=headers),
        tenant.client.post(url, json={"content": "Cancel my order"}, headers=headers),
    )
    third = await tenant.client.post(url, json={"content": "Cancel my order"}, headers=headers)
    assert first.status_code == second.status_code == third.status_code == 200
    assert first.json()["message"]["id"] == second.json()["message"]["id"] == third.json()["message"]["id"]
    assert first.json()["turn_id"] == third.json()["turn_id"]
    items = (await tenant.client.get(url)).json()["items"]
    assert len(items) == 2
    assert fake_primary.calls == 1


async def test_idempotency_key_reused_for_other_content_is_a_conflict(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    url = f"/v1/conversations/{conversation}/messages"
    ok = await tenant.client.post(url, json={"content": "first"}, headers={"Idempotency-Key": "k"})
    assert ok.status_code == 200
    clash = await tenant.client.post(url, json={"content": "second"}, headers={"Idempotency-Key": "k"})
    assert clash.status_code == 409
    assert clash.json()["code"] == "idempotency_key_reused"
    assert len((await tenant.client.get(url)).json()["items"]) == 2


async def test_two_messages_at_once_are_both_answered_in_order_with_shared_context(
    tenant: Tenant, fake_primary
) -> None:
    conversation = await new_conversation(tenant)
    url = f"/v1/conversations/{conversation}/messages"
    first, second = await asyncio.gather(
        tenant.client.post(url, json={"content": "My name is Ada"}),
        tenant.client.post(url, json={"content": "What is my name?"}),
    )
    assert first.status_code == second.status_code == 200
    items = (await tenant.client.get(url)).json()["items"]
    assert [m["role"] for m in items].count("user") == 2
    assert [m["role"] for m in items].count("assistant") == 2
    assert [m["seq"] for m in items] == [1, 2, 3, 4]
    # Whichever arrived second was answered second, with the first exchange in its prompt.
    prompts = [r["messages"] for r in fake_primary.requests]
    assert len(prompts) == 2
    later_prompt = prompts[1]
    earlier_question = prompts[0][-1]["content"]
    contents = [m["content"] for m in later_prompt]
    assert earlier_question in contents
    assert f"Echo: {earlier_question}" in contents
    assert contents.index(earlier_question) < contents.index(f"Echo: {earlier_question}")


async def test_streamed_reply_arrives_as_deltas_then_the_stored_message(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    events = []
    async with tenant.client.stream(
        "POST", f"/v1/conversations/{conversation}/messages", json={"content": "stream please", "stream": True}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        events = await _read_events(response)
    kinds = [e["event"] for e in events]
    assert kinds[0] == "turn" and kinds[-2:] == ["message", "done"]
    text = "".join(json.loads(e["data"])["text"] for e in events if e["event"] == "delta")
    message = json.loads(next(e["data"] for e in events if e["event"] == "message"))
    assert text == message["content"] == "Echo: stream please"


async def test_reconnect_with_last_event_id_misses_nothing(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    async with tenant.client.stream(
        "POST",
        f"/v1/conversations/{conversation}/messages",
        json={"content": "one two three four five six seven eight"},
        headers={"Accept": "text/event-stream"},
    ) as response:
        turn_id = response.headers["x-turn-id"]
        all_events = await _read_events(response)
    deltas = [e for e in all_events if e["event"] == "delta"]
    assert len(deltas) >= 2
    cut = deltas[0]["id"]
    async with tenant.client.stream(
        "GET", f"/v1/conversations/{conversation}/turns/{turn_id}/events", headers={"Last-Event-ID": cut}
    ) as resumed:
        assert resumed.status_code == 200
        rest = await _read_events(resumed)
    after_cut = all_events[all_events.index(deltas[0]) + 1 :]
    assert [(e["event"], e["id"]) for e in rest] == [(e["event"], e["id"]) for e in after_cut]


async def test_escalated_conversation_gets_no_bot_reply(api: Api, tenant: Tenant, fake_primary) -> None:
    conversation = await new_conversation(tenant)
    async with api.runtime.db.session() as session:
        row = await session.get(Conversation, uuid.UUID(conversation))
        assert row is not None
        row.status = "escalated"  # what a human taking over does (the escalation workflow)
        session.add(row)
        await session.commit()
    response = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "hello?"})
    assert response.status_code == 200
    assert response.json()["message"] is None
    items = (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
    assert [m["role"] for m in items] == ["user"]
    assert fake_primary.calls == 0


async def _read_events(response: httpx.Response) -> list[dict]:
    events: list[dict] = []
    current: dict = {}
    async for line in response.aiter_lines():
        if line == "":
            if current:
                events.append(current)
                current = {}
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(": ")
        current[field] = value
    if current:
        events.append(current)
    return events


async def test_a_message_is_refused_with_503_when_temporal_cannot_be_reached(tenant: Tenant) -> None:
    """The message is recorded by the turn's workflow: when it cannot start, nothing is recorded
    and the client gets a retryable 503 problem (it was a 500)."""
    from temporalio.client import Client

    from helpdeck.errors import IntakeUnavailable
    from helpdeck.services.turn_runner import start_turn

    unreachable = await Client.connect("127.0.0.1:1", lazy=True)  # nothing listens on port 1
    conversation = uuid.UUID(await new_conversation(tenant))
    try:
        await start_turn(
            unreachable, "helpdeck", uuid.UUID(tenant.id), conversation, f"turn-{conversation}-x", "hi", "api", False
        )
    except IntakeUnavailable as refused:
        assert refused.status == 503 and refused.code == "intake_unavailable"
    else:
        raise AssertionError("started a turn on an unreachable Temporal")
    messages = (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
    assert messages == []
