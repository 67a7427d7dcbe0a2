"""The model provider failing: retries, then the backup, then the offline composer, then a
canned reply. The customer always gets an answer; its metadata says what kind."""

from __future__ import annotations

import json

from tests.api.test_turns import _read_events
from tests.conftest import Api, Tenant, make_tenant, new_conversation


async def _ask(tenant: Tenant, content: str = "Do you ship to Norway?") -> dict:
    conversation = await new_conversation(tenant)
    response = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": content})
    assert response.status_code == 200, response.text
    return response.json()["message"]


async def test_server_errors_are_retried_then_the_backup_answers(tenant: Tenant, fake_primary, fake_backup) -> None:
    fake_primary.set_mode("fail")
    message = await _ask(tenant)
    assert fake_primary.calls == 3  # the retry policy's attempts
    assert message["content"] == "Backup provider answer."
    assert message["metadata"]["provider"] == "backup"
    assert message["metadata"]["degraded"] == "backup"


async def test_a_transient_error_is_retried_on_the_same_provider(tenant: Tenant, fake_primary, fake_backup) -> None:
    fake_primary.set_mode("rate_limit", times=1)
    message = await _ask(tenant, "hello after a 429")
    assert fake_primary.calls == 2 and fake_backup.calls == 0
    assert message["content"] == "Echo: hello after a 429"
    assert message["metadata"]["degraded"] is None


async def test_rejected_credentials_and_garbage_skip_straight_to_the_backup(
    tenant: Tenant, fake_primary, fake_backup
) -> None:
    for mode in ("unauthorized", "garbage", "oversized"):
        fake_primary.reset()
        fake_backup.reset()
        fake_primary.set_mode(mode)
        message = await _ask(tenant)
        assert fake_primary.calls == 1, mode
        assert message["metadata"]["provider"] == "backup", mode


async def test_a_stalled_provider_times_out_and_is_retried(tenant: Tenant, fake_primary) -> None:
    fake_primary.set_mode("stall", times=1, stall_seconds=30)
    message = await _ask(tenant, "are you there?")
    assert fake_primary.calls == 2
    assert message["content"] == "Echo: are you there?"


async def test_every_provider_down_still_answers_from_the_offline_composer(
    tenant: Tenant, fake_primary, fake_backup
) -> None:
    fake_primary.set_mode("fail")
    fake_backup.set_mode("fail")
    message = await _ask(tenant, "What are your opening hours?")
    assert message["metadata"]["provider"] == "offline"
    assert message["metadata"]["degraded"] == "offline"
    assert "person" in message["content"]  # honest: it could not find it, and offers a human


async def test_offline_only_company_never_calls_a_hosted_model(api: Api, admin, fake_primary) -> None:
    private = await make_tenant(api, admin, settings={"offline_only": True})
    try:
        message = await _ask(private, "hello")
        assert fake_primary.calls == 0
        assert message["metadata"]["provider"] == "offline" and message["metadata"]["degraded"] is None
    finally:
        await private.client.aclose()


async def test_a_stream_cut_mid_answer_is_reset_and_never_shows_text_twice(tenant: Tenant, fake_primary) -> None:
    fake_primary.set_mode("stall_mid_stream", times=1, stall_seconds=30)
    conversation = await new_conversation(tenant)
    async with tenant.client.stream(
        "POST", f"/v1/conversations/{conversation}/messages", json={"content": "alpha beta gamma delta", "stream": True}
    ) as response:
        events = await _read_events(response)
    kinds = [e["event"] for e in events]
    assert "reset" in kinds
    shown = ""
    for event in events:  # what a client that honours `reset` displays
        if event["event"] == "reset":
            shown = ""
        elif event["event"] == "delta":
            shown += json.loads(event["data"])["text"]
    final = json.loads(next(e["data"] for e in events if e["event"] == "message"))
    assert shown == final["content"] == "Echo: alpha beta gamma delta"
