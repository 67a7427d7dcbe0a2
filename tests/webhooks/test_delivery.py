"""Webhooks end to end on the real stack: events from real turns reach a local receiver (a
stand-in for a customer's endpoint, on 127.0.0.1) signed per Standard Webhooks, verified with
the `standardwebhooks` package; outages, 410, replays and secret rotation as a customer sees them.
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Iterator

import pytest
from sqlmodel import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from temporalio.client import WorkflowExecutionStatus

from helpdeck.services.webhook_runner import DISPATCHER_WORKFLOW_ID, ensure_dispatcher
from helpdeck.tables import WebhookOutbox
from tests.conftest import Api, Tenant, new_conversation
from tests.webhooks.receiver import Received, Receiver
from tests.webhooks.support import eventually


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


async def _register(tenant: Tenant, receiver: Receiver, events: list[str] | None = None) -> dict:
    response = await tenant.client.post(
        "/v1/webhooks", json={"url": receiver.url(), "events": events or ["message.created"], "description": "crm"}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


def _verified(secret: str, request: Received) -> dict:
    return dict(Webhook(secret).verify(request.body, request.headers))


async def test_message_events_of_a_turn_arrive_signed_and_verifiable_and_the_secret_is_shown_once(
    api: Api, tenant: Tenant, receiver: Receiver
) -> None:
    hook = await _register(tenant, receiver)
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in (await tenant.client.get(f"/v1/webhooks/{hook['id']}")).json()
    assert all("secret" not in item for item in (await tenant.client.get("/v1/webhooks")).json()["items"])

    conversation = await new_conversation(tenant)
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "Where is my parcel?"})

    await eventually(lambda: len(receiver.accepted()) >= 2)
    bodies = [_verified(hook["secret"], r) for r in receiver.accepted()]
    assert [b["type"] for b in bodies] == ["message.created", "message.created"]
    assert [b["version"] for b in bodies] == [1, 1]
    assert [b["data"]["role"] for b in bodies] == ["user", "assistant"]
    assert bodies[0]["data"]["content"] == "Where is my parcel?"
    assert {b["data"]["conversation_id"] for b in bodies} == {conversation}
    assert receiver.accepted()[0].headers["webhook-id"] == f"evt_{bodies[0]['id'].replace('-', '')}"
    # Each delivery is its own workflow, findable by company, conversation and kind.
    query = (
        f'HelpdeckCompanyId = "{tenant.id}" AND HelpdeckConversationId = "{conversation}" '
        'AND HelpdeckKind = "webhook"'
    )
    found = await eventually(lambda: _workflow_ids(api, query, 2))
    assert all(w.startswith(f"webhook-delivery-{hook['id']}-") for w in found)


async def _workflow_ids(api: Api, query: str, count: int) -> list[str] | None:
    found = [w.id async for w in api.runtime.temporal.list_workflows(query)]
    return found if len(found) == count else None


async def test_a_receiver_that_was_down_gets_every_event_once_and_in_order_per_conversation(
    tenant: Tenant, receiver: Receiver
) -> None:
    hook = await _register(tenant, receiver)
    receiver.answer(503)
    conversations = [await new_conversation(tenant, user_id=f"u{n}") for n in range(2)]
    for turn in range(2):
        for conversation in conversations:
            await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": f"q{turn}"})
    await eventually(lambda: len(receiver.requests) >= 2)  # each conversation's first event failed
    receiver.answer(200)  # back up: the heads retry after ~5 s, then the rest follow in order

    accepted = await eventually(lambda: len(receiver.accepted()) >= 8 and receiver.accepted(), timeout_s=60)
    ids = [r.headers["webhook-id"] for r in accepted]
    assert len(ids) == len(set(ids)) == 8  # every event, each once
    seqs: dict[str, list[int]] = collections.defaultdict(list)
    for request in accepted:
        body = _verified(hook["secret"], request)
        seqs[body["data"]["conversation_id"]].append(body["data"]["seq"])
    assert {c: s for c, s in seqs.items()} == {c: [1, 2, 3, 4] for c in conversations}
    # Nothing was sent ahead of its conversation's earlier events while the receiver was down.
    failed = [r for r in receiver.requests if r.answered == 503]
    assert {_verified(hook["secret"], r)["data"]["seq"] for r in failed} == {1}

    page = await eventually(lambda: _all_delivered(tenant, hook["id"], 8))
    heads = [d for d in page["items"] if len(d["attempts"]) > 1]
    assert len(heads) == 2
    for head in heads:
        codes = [a["status_code"] for a in head["attempts"]]
        assert codes[0] == 503 and codes[-1] == 200
        assert all(a["latency_ms"] >= 0 and a["attempted_at"] for a in head["attempts"])


async def test_an_endpoint_that_answers_410_is_disabled_and_gets_nothing_more(
    tenant: Tenant, receiver: Receiver
) -> None:
    hook = await _register(tenant, receiver)
    receiver.answer(410)
    ping = await tenant.client.post(f"/v1/webhooks/{hook['id']}/test")
    assert ping.status_code == 202, ping.text

    shown = await eventually(lambda: _disabled(tenant, hook["id"]), timeout_s=20)
    assert shown["disabled_reason"] == "gone"
    deliveries = (await tenant.client.get(f"/v1/webhooks/{hook['id']}/deliveries")).json()["items"]
    assert deliveries[0]["status"] == "failed"
    assert [a["status_code"] for a in deliveries[0]["attempts"]] == [410]
    # A disabled endpoint takes no test pings, and no replays, until it is enabled again.
    assert (await tenant.client.post(f"/v1/webhooks/{hook['id']}/test")).json()["code"] == "webhook_disabled"
    enabled = await tenant.client.patch(f"/v1/webhooks/{hook['id']}", json={"disabled": False})
    assert enabled.json()["disabled"] is False and enabled.json()["disabled_reason"] == ""


async def _get_json(tenant: Tenant, path: str) -> dict:
    return dict((await tenant.client.get(path)).json())


async def _disabled(tenant: Tenant, hook_id: str) -> dict | None:
    shown = await _get_json(tenant, f"/v1/webhooks/{hook_id}")
    return shown if shown["disabled"] else None


async def test_a_replay_redelivers_the_same_event_with_the_same_webhook_id(tenant: Tenant, receiver: Receiver) -> None:
    hook = await _register(tenant, receiver)
    ping = (await tenant.client.post(f"/v1/webhooks/{hook['id']}/test")).json()
    await eventually(lambda: len(receiver.accepted()) == 1)
    await eventually(lambda: _delivery_status(tenant, hook["id"], "delivered"))

    replay = await tenant.client.post(f"/v1/webhooks/{hook['id']}/deliveries/{ping['delivery_id']}/replay")
    assert replay.status_code == 202, replay.text
    assert replay.json()["run"] == 1
    first, second = await eventually(lambda: len(receiver.accepted()) == 2 and receiver.accepted())
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == ping["webhook_id"]
    assert _verified(hook["secret"], first) == _verified(hook["secret"], second)
    assert _verified(hook["secret"], second)["type"] == "webhook.ping"

    delivery = await eventually(lambda: _delivery_status(tenant, hook["id"], "delivered"))
    assert [(a["run"], a["status_code"]) for a in delivery["attempts"]] == [(0, 200), (1, 200)]
    unknown = await tenant.client.post(
        f"/v1/webhooks/{hook['id']}/deliveries/00000000-0000-0000-0000-000000000000/replay"
    )
    assert unknown.status_code == 404


async def _all_delivered(tenant: Tenant, hook_id: str, count: int) -> dict | None:
    page = await _get_json(tenant, f"/v1/webhooks/{hook_id}/deliveries?limit=200")
    done = len(page["items"]) == count and {d["status"] for d in page["items"]} == {"delivered"}
    return page if done else None


async def _outbox_empty(api: Api, tenant: Tenant) -> bool:
    async with api.runtime.db.session() as session:
        rows = await session.exec(select(WebhookOutbox).where(WebhookOutbox.company_id == uuid.UUID(tenant.id)))
        return rows.first() is None


async def _delivery_status(tenant: Tenant, hook_id: str, status: str) -> dict | None:
    items = (await _get_json(tenant, f"/v1/webhooks/{hook_id}/deliveries"))["items"]
    return items[0] if items and items[0]["status"] == status else None


async def test_during_a_rotation_overlap_both_secrets_sign_and_afterwards_only_the_new_one(
    tenant: Tenant, receiver: Receiver
) -> None:
    hook = await _register(tenant, receiver)
    rotated = await tenant.client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", json={"overlap_seconds": 3600})
    assert rotated.status_code == 201, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret != hook["secret"] and rotated.json()["previous_secret_expires_at"]

    await tenant.client.post(f"/v1/webhooks/{hook['id']}/test")
    during = await eventually(lambda: receiver.accepted()[-1] if receiver.accepted() else None)
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    assert _verified(hook["secret"], during) == _verified(new_secret, during)

    latest = (await tenant.client.post(f"/v1/webhooks/{hook['id']}/rotate-secret", json={"overlap_seconds": 0})).json()
    await tenant.client.post(f"/v1/webhooks/{hook['id']}/test")
    after = await eventually(lambda: len(receiver.accepted()) == 2 and receiver.accepted()[-1])
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    _verified(latest["secret"], after)
    for retired in (hook["secret"], new_secret):
        with pytest.raises(WebhookVerificationError):
            _verified(retired, after)


async def test_only_subscribed_event_kinds_are_delivered(api: Api, tenant: Tenant, receiver: Receiver) -> None:
    await _register(tenant, receiver, events=["conversation.resolved"])
    conversation = await new_conversation(tenant)
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "hi"})
    await eventually(lambda: _outbox_empty(api, tenant))  # the first turn's events are relayed
    ping_receiver_hook = await _register(tenant, receiver, events=["message.created"])
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "again"})
    accepted = await eventually(lambda: len(receiver.accepted()) >= 2 and receiver.accepted())
    bodies = [_verified(ping_receiver_hook["secret"], r) for r in accepted]
    assert [b["data"]["seq"] for b in bodies] == [3, 4]  # only events after the subscriber existed


async def test_an_event_written_while_the_dispatcher_is_down_is_delivered_when_it_comes_back(
    api: Api, tenant: Tenant, receiver: Receiver
) -> None:
    hook = await _register(tenant, receiver)
    dispatcher = api.runtime.temporal.get_workflow_handle(DISPATCHER_WORKFLOW_ID)
    await dispatcher.terminate("test: the process relaying events died")
    conversation = await new_conversation(tenant)
    try:
        # Its last relay round stops at its next heartbeat; from then on events wait in the outbox.
        for turn in range(20):
            await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": f"q{turn}"})
            await asyncio.sleep(2)
            if not await _outbox_empty(api, tenant):
                break
        else:
            raise AssertionError("the relay kept running after its workflow was terminated")
        waiting = len(receiver.requests)
        await asyncio.sleep(1)
        assert len(receiver.requests) == waiting  # nothing is being delivered
    finally:
        await ensure_dispatcher(api.runtime.temporal, api.settings)
    assert (await dispatcher.describe()).status == WorkflowExecutionStatus.RUNNING
    accepted = await eventually(lambda: len(receiver.accepted()) == 2 * (turn + 1) and receiver.accepted())
    seqs = [_verified(hook["secret"], r)["data"]["seq"] for r in accepted]
    assert seqs == list(range(1, 2 * (turn + 1) + 1))
