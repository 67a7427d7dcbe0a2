"""A `transaction` turn calls the company's action and answers from its result.

CompanyApi (a local server on 127.0.0.1) stands in for the company's own order API; everything
else is the real stack: the turn workflow, its activities, PostgreSQL, and the SSRF-checked
HTTP client. Tenants are offline-only unless a test is about the model.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from activities.actions import ActionActivities, CallActionInput
from tests.actions.company_api import CompanyApi
from tests.actions.support import order_status
from tests.conftest import Api, Tenant, make_tenant, new_conversation
from worker import WORKFLOWS


@pytest.fixture
def company_api() -> Iterator[CompanyApi]:
    with CompanyApi() as server:
        yield server


@pytest.fixture
async def offline(api: Api, admin: httpx.AsyncClient) -> AsyncIterator[Tenant]:
    made = await make_tenant(api, admin, settings={"offline_only": True})
    yield made
    await made.client.aclose()


async def _register(tenant: Tenant, url: str, **extra: object) -> dict:
    made = await tenant.client.post("/v1/actions", json=order_status(url, **extra))
    assert made.status_code == 201, made.text
    return dict(made.json())


async def _ask(tenant: Tenant, conversation: str, text: str) -> dict:
    response = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": text})
    assert response.status_code == 200, response.text
    return dict(response.json())


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_order_question_calls_the_action_with_the_extracted_number_and_answers_from_it(
    api: Api, offline: Tenant, company_api: CompanyApi
) -> None:
    await _register(
        offline, company_api.url("/orders/{order_id}"), headers={"Authorization": "Bearer shop-secret-token-1234"}
    )
    conversation = await new_conversation(offline)
    turn = await _ask(offline, conversation, "Where is my order 12345?")
    reply = turn["message"]
    assert [c.path for c in company_api.calls] == ["/orders/12345"]
    call = company_api.calls[0]
    assert call.method == "GET" and call.headers["authorization"] == "Bearer shop-secret-token-1234"
    assert call.headers["idempotency-key"].startswith(turn["turn_id"])
    assert "order id 12345" in reply["content"]
    assert "Status: shipped" in reply["content"] and "Carrier: DHL" in reply["content"]
    assert "Delivery › Eta: 2025-05-02" in reply["content"] and "blue mug, red mug" in reply["content"]
    assert reply["metadata"]["action"] == "order_status"
    assert reply["metadata"]["action_status"] == "answered"
    assert reply["metadata"]["degraded"] is None and reply["metadata"]["intent"] == "transaction"
    # The turn replays against the current workflow code (the actions-v1 patch is deterministic).
    history = await api.runtime.temporal.get_workflow_handle(turn["turn_id"]).fetch_history()
    replayed = await Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner()).replay_workflow(
        history, raise_on_replay_failure=False
    )
    assert replayed.replay_failure is None


async def test_other_arguments_go_in_the_json_body_of_a_post(offline: Tenant, company_api: CompanyApi) -> None:
    await _register(
        offline,
        company_api.url("/orders/cancel"),
        name="cancel_order",
        description="Cancel an order",
        method="POST",
        parameters={
            "type": "object",
            "properties": {
                "order_id": {"type": "integer"},
                "reason": {"enum": ["damaged", "late", "changed_mind"], "default": "changed_mind"},
            },
            "required": ["order_id"],
        },
    )
    turn = await _ask(offline, await new_conversation(offline), "Please cancel order 4411, it arrived damaged")
    assert [(c.method, c.path, c.json) for c in company_api.calls] == [
        ("POST", "/orders/cancel", {"order_id": 4411, "reason": "damaged"})
    ]
    assert turn["message"]["metadata"]["action_status"] == "answered"


async def test_a_missing_order_number_is_asked_for_and_the_answer_completes_the_call(
    offline: Tenant, company_api: CompanyApi
) -> None:
    await _register(offline, company_api.url("/orders/{order_id}"))
    conversation = await new_conversation(offline)
    asked = (await _ask(offline, conversation, "I want to check my order status"))["message"]
    assert company_api.calls == []
    assert "order number" in asked["content"] and asked["content"].endswith("?")
    assert asked["metadata"]["action"] == "order_status"
    assert asked["metadata"]["action_status"] == "needs_parameters"

    answered = (await _ask(offline, conversation, "12345"))["message"]
    assert [c.path for c in company_api.calls] == ["/orders/12345"]
    assert answered["metadata"]["action_status"] == "answered" and "shipped" in answered["content"]


async def test_an_action_failing_once_is_retried_and_the_customer_gets_the_answer(
    offline: Tenant, company_api: CompanyApi
) -> None:
    await _register(offline, company_api.url("/orders/{order_id}"))
    company_api.fail_next(500)
    reply = (await _ask(offline, await new_conversation(offline), "Where is my order 12345?"))["message"]
    assert [c.answered for c in company_api.calls] == [500, 200]
    assert reply["metadata"]["action_status"] == "answered" and "shipped" in reply["content"]


async def test_an_answer_of_404_is_a_result_never_retried(offline: Tenant, company_api: CompanyApi) -> None:
    await _register(offline, company_api.url("/orders/{order_id}"))
    reply = (await _ask(offline, await new_conversation(offline), "Where is my order 00000?"))["message"]
    assert [c.answered for c in company_api.calls] == [404]
    assert reply["metadata"]["action_status"] == "rejected"
    assert "404" in reply["content"] and "order not found" in reply["content"]
    assert "human" in reply["content"]


async def test_an_action_that_is_down_degrades_visibly_and_offers_a_person(
    offline: Tenant, company_api: CompanyApi
) -> None:
    await _register(offline, company_api.url("/orders/{order_id}"))
    company_api.fail_next(503, 503, 503)
    conversation = await new_conversation(offline)
    reply = (await _ask(offline, conversation, "Where is my order 12345?"))["message"]
    assert [c.answered for c in company_api.calls] == [503, 503, 503]  # three attempts, then it gives up
    assert reply["metadata"]["degraded"] == "action_failed"
    assert reply["metadata"]["action_status"] == "failed"
    assert "human" in reply["content"]
    assert (await offline.client.get(f"/v1/conversations/{conversation}")).json()["status"] != "escalated"


async def test_a_company_that_wants_it_gets_a_person_when_its_action_is_unreachable(
    api: Api, admin: httpx.AsyncClient
) -> None:
    tenant = await make_tenant(api, admin, settings={"offline_only": True, "escalate_on_action_failure": True})
    try:
        await _register(tenant, f"http://127.0.0.1:{_closed_port()}/orders/{{order_id}}")
        conversation = await new_conversation(tenant)
        reply = (await _ask(tenant, conversation, "Where is my order 12345?"))["message"]
        assert reply["metadata"]["handoff"] is True
        assert reply["metadata"]["escalation_reason"] == "action_failed"
        assert reply["metadata"]["degraded"] == "action_failed" and reply["metadata"]["action_status"] == "failed"
        assert (await tenant.client.get(f"/v1/conversations/{conversation}")).json()["status"] == "escalated"
    finally:
        await tenant.client.aclose()


async def test_without_a_matching_action_the_turn_answers_from_knowledge(
    offline: Tenant, company_api: CompanyApi
) -> None:
    conversation = await new_conversation(offline)
    plain = (await _ask(offline, conversation, "Where is my order 12345?"))["message"]
    assert "action" not in plain["metadata"] and plain["metadata"]["intent"] == "transaction"
    await _register(offline, company_api.url("/orders/{order_id}"), name="refund", description="Refund a payment")
    unmatched = (await _ask(offline, conversation, "Track order 55555 please"))["message"]
    assert "action" not in unmatched["metadata"] and company_api.calls == []


async def test_with_a_model_the_model_phrases_the_result_from_a_delimited_block(
    tenant: Tenant, company_api: CompanyApi, fake_primary
) -> None:
    fake_primary.reply_text = "Good news: order 12345 has shipped with DHL."
    await _register(tenant, company_api.url("/orders/{order_id}"))
    reply = (await _ask(tenant, await new_conversation(tenant), "Where is my order 12345?"))["message"]
    assert reply["content"] == "Good news: order 12345 has shipped with DHL."
    assert reply["metadata"]["provider"] == "primary" and reply["metadata"]["action_status"] == "answered"
    prompt = fake_primary.requests[-1]["messages"][-1]["content"]
    assert "<api_result>" in prompt and "- Status: shipped" in prompt


async def test_with_a_model_configured_for_it_the_model_picks_the_action_and_its_parameters(
    api: Api, admin: httpx.AsyncClient, company_api: CompanyApi, fake_primary
) -> None:
    tenant = await make_tenant(api, admin, settings={"action_extraction": "llm", "phrase_actions_with_model": False})
    try:
        await _register(tenant, company_api.url("/orders/{order_id}"))
        fake_primary.reply_text = '{"action": "order_status", "arguments": {"order_id": "24680"}}'
        reply = (await _ask(tenant, await new_conversation(tenant), "Please check on my purchase from last week"))
        assert [c.path for c in company_api.calls] == ["/orders/24680"]
        assert reply["message"]["metadata"]["action_status"] == "answered"
    finally:
        await tenant.client.aclose()


async def test_the_call_checks_the_address_again_and_never_reaches_a_private_target(
    api: Api, offline: Tenant, company_api: CompanyApi
) -> None:
    """Registered while private targets were allowed; called where they are not (the platform's
    production setting): refused before any connection, and not retried."""
    action = await _register(offline, company_api.url("/orders/{order_id}"))
    strict = api.settings.model_copy(update={"allow_private_urls": False})
    activities = ActionActivities(api.runtime.db, strict, api.runtime.gateway)
    call = CallActionInput(offline.id, action["id"], f"turn-{uuid.uuid4()}", {"order_id": "12345"})
    with pytest.raises(ApplicationError) as refused:
        await activities.call_action(call)
    assert refused.value.type == "ActionRefused" and refused.value.non_retryable
    assert company_api.calls == []


async def test_a_company_allowed_private_targets_reaches_its_internal_api(
    api: Api, admin: httpx.AsyncClient, company_api: CompanyApi
) -> None:
    tenant = await make_tenant(api, admin, settings={"allow_private_action_urls": True})
    try:
        action = await _register(tenant, company_api.url("/orders/{order_id}"))
        strict = api.settings.model_copy(update={"allow_private_urls": False})
        activities = ActionActivities(api.runtime.db, strict, api.runtime.gateway)
        result = await activities.call_action(
            CallActionInput(tenant.id, action["id"], f"turn-{uuid.uuid4()}", {"order_id": "../admin"})
        )
        assert result.status_code == 200
        assert [c.path for c in company_api.calls] == ["/orders/..%2Fadmin"]  # one path segment, encoded
    finally:
        await tenant.client.aclose()
