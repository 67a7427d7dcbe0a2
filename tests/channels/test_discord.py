"""Discord end to end: interactions signed with Ed25519 exactly as Discord signs them, follow-ups
sent to a local stand-in for Discord's API (tests.channels.standins.DiscordStandIn). PING is
answered, /ask is deferred then its original response edited with the answer; forged, stale,
replayed and malformed interactions are refused and record nothing."""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx
import pytest

from helpdeck.channels.formatting import ZERO_WIDTH_SPACE
from tests.channels.conftest import recorded
from tests.channels.standins import DiscordSigner, DiscordStandIn
from tests.conftest import Api, Tenant

APP_ID = "1100000000000000001"


@pytest.fixture(scope="module")
def signer() -> DiscordSigner:
    return DiscordSigner()


@pytest.fixture
async def discord_tenant(tenant: Tenant, discord_api: DiscordStandIn, signer: DiscordSigner) -> Tenant:
    body = {"application_id": APP_ID, "public_key": signer.public_key, "bot_token": "bot-token",
            "api_base_url": discord_api.base_url}  # fmt: skip
    response = await tenant.client.put("/v1/channels/discord", json=body)
    assert response.status_code == 200, response.text
    return tenant


def snowflake() -> str:
    return str(random.randrange(10**17, 10**18))


def ask(question: str, *, interaction_id: str | None = None, token: str | None = None) -> bytes:
    options = [{"name": "question", "type": 3, "value": question}]
    payload = {
        "id": interaction_id or snowflake(), "application_id": APP_ID, "type": 2,
        "token": token or f"tok-{snowflake()}", "channel_id": "2200000000000000002",
        "guild_id": "3300000000000000003", "version": 1,
        "member": {"user": {"id": "4400000000000000004", "username": "customer"}},
        "data": {"id": snowflake(), "name": "ask", "type": 1, "options": options},
    }  # fmt: skip
    return json.dumps(payload).encode()


async def send(api: Api, company_id: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        return await client.post(f"/channels/discord/{company_id}/interactions", content=body, headers=headers)


async def test_ping_is_answered_with_pong(api: Api, discord_tenant: Tenant, signer: DiscordSigner) -> None:
    body = json.dumps({"id": snowflake(), "application_id": APP_ID, "type": 1, "token": "t", "version": 1}).encode()
    response = await send(api, discord_tenant.id, body, signer.headers(body))
    assert response.status_code == 200
    assert response.json() == {"type": 1}


async def test_ask_is_deferred_then_the_original_response_is_edited(
    api: Api, discord_tenant: Tenant, discord_api: DiscordStandIn, signer: DiscordSigner
) -> None:
    body = ask("@everyone where is my parcel?", token="tok-parcel")
    response = await send(api, discord_tenant.id, body, signer.headers(body))
    assert response.status_code == 200
    assert response.json() == {"type": 5}
    edits = await discord_api.wait_for(lambda c: c["kind"] == "edit_original" and c["token"] == "tok-parcel")
    assert len(edits) == 1
    edit = edits[0]
    assert edit["application_id"] == APP_ID
    assert edit["body"]["allowed_mentions"] == {"parse": []}
    # The stand-in model echoes the question; the mass mention arrives defused.
    assert edit["body"]["content"] == f"Echo: @{ZERO_WIDTH_SPACE}everyone where is my parcel?"
    counts = await recorded(api, discord_tenant.id)
    assert counts == {"conversations": 1, "messages": 2, "deliveries": 1}


async def test_other_commands_get_a_private_hint_and_record_nothing(
    api: Api, discord_tenant: Tenant, signer: DiscordSigner
) -> None:
    payload = json.loads(ask("x"))
    payload["data"]["name"] = "dance"
    body = json.dumps(payload).encode()
    response = await send(api, discord_tenant.id, body, signer.headers(body))
    assert response.status_code == 200 and response.json()["type"] == 4
    assert response.json()["data"]["flags"] == 64
    assert (await recorded(api, discord_tenant.id))["conversations"] == 0


@pytest.mark.parametrize("case", ["forged", "other_key", "stale", "missing", "tampered", "not_hex"])
async def test_bad_signatures_are_refused_and_record_nothing(
    api: Api, discord_tenant: Tenant, discord_api: DiscordStandIn, signer: DiscordSigner, case: str
) -> None:
    body = ask("let me in")
    headers = signer.headers(body)
    if case == "forged":
        headers["X-Signature-Ed25519"] = "00" * 64
    elif case == "other_key":
        headers = DiscordSigner().headers(body)
    elif case == "stale":
        headers = signer.headers(body, timestamp=int(time.time()) - 360)
    elif case == "missing":
        headers = {"content-type": "application/json"}
    elif case == "tampered":
        body = body.replace(b"let me in", b"let me out")
    else:
        headers["X-Signature-Ed25519"] = "zz" * 64
    response = await send(api, discord_tenant.id, body, headers)
    assert response.status_code == 401, response.text
    assert response.json()["code"] == ("stale_request" if case == "stale" else "invalid_signature")
    await asyncio.sleep(0.3)
    assert await recorded(api, discord_tenant.id) == {"conversations": 0, "messages": 0, "deliveries": 0}
    assert discord_api.calls == []


async def test_replayed_interaction_is_refused_and_makes_no_second_turn(
    api: Api, discord_tenant: Tenant, discord_api: DiscordStandIn, signer: DiscordSigner
) -> None:
    body = ask("just once", token="tok-once")
    headers = signer.headers(body)
    assert (await send(api, discord_tenant.id, body, headers)).status_code == 200
    replay = await send(api, discord_tenant.id, body, headers)
    assert replay.status_code == 401 and replay.json()["code"] == "replayed_request"
    await discord_api.wait_for(lambda c: c["token"] == "tok-once")
    await asyncio.sleep(0.5)
    assert len([c for c in discord_api.calls if c["token"] == "tok-once"]) == 1
    assert await recorded(api, discord_tenant.id) == {"conversations": 1, "messages": 2, "deliveries": 1}


@pytest.mark.parametrize(
    "body",
    [
        b"{broken",
        b"[]",
        b'{"type": "two"}',
        json.dumps({"type": 3}).encode(),
        json.dumps({"type": 2, "data": {"name": "ask", "options": []}}).encode(),
    ],
)
async def test_signed_but_malformed_interactions_are_400(
    api: Api, discord_tenant: Tenant, signer: DiscordSigner, body: bytes
) -> None:
    response = await send(api, discord_tenant.id, body, signer.headers(body))
    assert response.status_code == 400, response.text
    assert await recorded(api, discord_tenant.id) == {"conversations": 0, "messages": 0, "deliveries": 0}


async def test_discord_down_for_a_while_still_gets_the_answer_once(
    api: Api, discord_tenant: Tenant, discord_api: DiscordStandIn, signer: DiscordSigner
) -> None:
    discord_api.fail_next("before", "before")
    body = ask("are you there?", token="tok-flaky")
    assert (await send(api, discord_tenant.id, body, signer.headers(body))).status_code == 200
    edits = await discord_api.wait_for(lambda c: c["token"] == "tok-flaky")
    assert [e["body"]["content"] for e in edits] == ["Echo: are you there?"]


async def test_public_key_must_be_an_ed25519_key(tenant: Tenant) -> None:
    response = await tenant.client.put(
        "/v1/channels/discord", json={"application_id": APP_ID, "public_key": "ab" * 31 + "z1", "bot_token": ""}
    )
    assert response.status_code == 422
