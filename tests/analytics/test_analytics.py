"""Analytics on the real stack: facts per turn, feedback and CSAT, roll-ups refreshed by a
workflow, and company-scoped reads (company B never sees A's numbers; the admin sees all)."""

from __future__ import annotations

import uuid

import httpx
import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer, UnsandboxedWorkflowRunner

from helpdeck.analytics.rollups import cluster_topics
from helpdeck.tables import Event, TurnFact
from tests.conftest import ADMIN_TOKEN, Api, Tenant, make_tenant, new_conversation
from worker import WORKFLOWS


async def _turn(tenant: Tenant, conversation: str, content: str) -> dict:
    response = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": content})
    assert response.status_code == 200, response.text
    return response.json()


async def test_each_turn_records_one_fact_with_model_tokens_cost_and_step_latency(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    turn = await _turn(tenant, conversation, "How do I reset my password?")
    async with api.runtime.db.session() as session:
        fact = await session.get(TurnFact, turn["turn_id"])
    assert fact is not None
    assert str(fact.company_id) == tenant.id and str(fact.conversation_id) == conversation
    assert fact.model == "gpt-4o-mini" and fact.provider
    assert fact.prompt_tokens > 0 and fact.completion_tokens > 0 and fact.cost_usd > 0
    assert fact.total_ms is not None and fact.generate_ms is not None and fact.retrieve_ms is not None
    assert fact.retrieval_confidence == 0.0
    # No knowledge base yet: nothing grounded the answer, so it is a knowledge gap.
    assert fact.answered is False and fact.question == "How do I reset my password?"
    assert str(fact.reply_message_id) == turn["message"]["id"]


async def test_feedback_and_csat_are_recorded_replaced_and_announced(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    turn = await _turn(tenant, conversation, "Where is my parcel?")
    reply_id = turn["message"]["id"]
    first = await tenant.client.post(f"/v1/messages/{reply_id}/feedback", json={"rating": "up"})
    assert first.status_code == 200, first.text
    second = await tenant.client.post(f"/v1/messages/{reply_id}/feedback", json={"rating": "down", "comment": "wrong"})
    assert second.json()["rating"] == "down" and second.json()["comment"] == "wrong"
    csat = await tenant.client.post(f"/v1/conversations/{conversation}/csat", json={"score": 4})
    assert csat.status_code == 200 and csat.json()["score"] == 4
    async with api.runtime.db.session() as session:
        from sqlmodel import select

        kinds = [
            e.payload["kind"]
            for e in await session.exec(
                select(Event).where(Event.conversation_id == uuid.UUID(conversation), Event.kind == "feedback.received")
            )
        ]
    assert sorted(kinds) == ["csat", "rating", "rating"]


async def test_bad_feedback_is_a_problem_detail_never_a_500(tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    turn = await _turn(tenant, conversation, "hi")
    reply_id, question_id = turn["message"]["id"], turn["user_message"]["id"]
    cases = [
        (f"/v1/messages/{reply_id}/feedback", {"rating": "meh"}, 422, "validation_error"),
        (f"/v1/messages/{reply_id}/feedback", {"rating": "up", "stars": 5}, 422, "unknown_field"),
        (f"/v1/messages/{question_id}/feedback", {"rating": "up"}, 422, "not_a_reply"),
        (f"/v1/messages/{uuid.uuid4()}/feedback", {"rating": "up"}, 404, "not_found"),
        ("/v1/messages/not-a-uuid/feedback", {"rating": "up"}, 422, "validation_error"),
        (f"/v1/conversations/{conversation}/csat", {"score": 6}, 422, "validation_error"),
        (f"/v1/conversations/{conversation}/csat", {"score": 0}, 422, "validation_error"),
        (f"/v1/conversations/{uuid.uuid4()}/csat", {"score": 3}, 404, "not_found"),
    ]
    for url, body, status, code in cases:
        response = await tenant.client.post(url, json=body)
        assert (response.status_code, response.json()["code"]) == (status, code), (url, body, response.text)


async def _refresh(client: httpx.AsyncClient) -> dict:
    response = await client.post("/v1/analytics/refresh", json={})
    assert response.status_code == 200, response.text
    return response.json()


async def test_dashboard_numbers_come_from_rollups_and_stay_within_the_company(
    api: Api, tenant: Tenant, other_tenant: Tenant
) -> None:
    conversation = await new_conversation(tenant, user_id="alice")
    first = await _turn(tenant, conversation, "How do I cancel my subscription?")
    await _turn(tenant, conversation, "Cancel subscription refund please")
    await tenant.client.post(f"/v1/messages/{first['message']['id']}/feedback", json={"rating": "down"})
    await tenant.client.post(f"/v1/conversations/{conversation}/csat", json={"score": 2})
    await _refresh(tenant.client)
    await _refresh(other_tenant.client)

    mine = (await tenant.client.get("/v1/analytics/overview")).json()
    assert mine["company_id"] == tenant.id
    assert mine["summary"]["conversations"] == 1 and mine["summary"]["messages"] == 4
    assert mine["summary"]["active_users"] == 1 and mine["summary"]["csat"] == 2.0
    assert mine["summary"]["cost_usd"] > 0 and mine["tables"]["by_day"]
    theirs = (await other_tenant.client.get("/v1/analytics/overview")).json()
    assert theirs["summary"]["conversations"] == 0 and theirs["summary"]["cost_usd"] == 0
    assert theirs["tables"]["by_day"] == []
    for page in ("escalations", "knowledge-gaps", "quality", "cost", "latency"):
        mine_page = (await tenant.client.get(f"/v1/analytics/{page}")).json()
        theirs_page = (await other_tenant.client.get(f"/v1/analytics/{page}")).json()
        assert all(not rows for rows in theirs_page["tables"].values()), page
        assert mine_page["company_id"] == tenant.id
    # B cannot ask for A by id either: the same 404 as an unknown company.
    probe = await other_tenant.client.get("/v1/analytics/overview", params={"company_id": tenant.id})
    assert (probe.status_code, probe.json()["code"]) == (404, "not_found")

    gaps = (await tenant.client.get("/v1/analytics/knowledge-gaps")).json()
    assert gaps["tables"]["topics"][0]["topic"] in ("cancel", "subscription")  # shared by both
    assert gaps["tables"]["topics"][0]["questions"] == 2
    quality = (await tenant.client.get("/v1/analytics/quality")).json()
    assert quality["summary"]["thumbs_down"] == 1
    assert quality["tables"]["thumbs_down"][0]["question"] == "How do I cancel my subscription?"
    cost = (await tenant.client.get("/v1/analytics/cost")).json()
    # Routing may send either question to the small or the large model; both turns are counted.
    by_model = {row["model"]: row["turns"] for row in cost["tables"]["by_model"]}
    assert set(by_model) <= {"gpt-4o-mini", "gpt-4o"} and sum(by_model.values()) == 2, by_model
    latency = (await tenant.client.get("/v1/analytics/latency")).json()
    assert {s["step"] for s in latency["tables"]["by_step"]} >= {"total", "retrieve", "generate"}
    assert latency["summary"]["p95_ms"] is not None

    async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as admin:
        everyone = (await admin.get("/v1/analytics/overview")).json()
        just_a = (await admin.get("/v1/analytics/overview", params={"company_id": tenant.id})).json()
    assert everyone["company_id"] is None
    assert everyone["summary"]["conversations"] >= 1
    assert just_a["summary"] == mine["summary"]


async def test_analytics_refuse_widget_keys_strangers_and_bad_ranges(api: Api, tenant: Tenant) -> None:
    widget = await tenant.client.post(
        "/v1/keys", json={"kind": "publishable", "allowed_origins": ["https://shop.example"]}
    )
    headers = {"Authorization": f"Bearer {widget.json()['key']}", "Origin": "https://shop.example"}
    async with httpx.AsyncClient(base_url=api.url) as client:
        assert (await client.get("/v1/analytics/overview", headers=headers)).status_code == 403
        assert (await client.get("/v1/analytics/overview")).status_code == 401
    bad = [
        ({"from": "2026-02-01", "to": "2026-01-01"}, "invalid_range"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "invalid_range"),
        ({"from": "yesterday"}, "validation_error"),
    ]
    for params, code in bad:
        response = await tenant.client.get("/v1/analytics/overview", params=params)
        assert (response.status_code, response.json()["code"]) == (422, code)


async def test_rollups_run_on_a_temporal_schedule_and_replay_deterministically(api: Api, tenant: Tenant) -> None:
    description = await api.runtime.temporal.get_schedule_handle("analytics-rollup").describe()
    assert description.schedule.spec.intervals[0].every.total_seconds() == api.settings.analytics_refresh_minutes * 60
    await _refresh(tenant.client)
    history: WorkflowHistory = await api.runtime.temporal.get_workflow_handle(
        f"analytics-refresh-{tenant.id}"
    ).fetch_history()
    replayer = Replayer(workflows=WORKFLOWS, workflow_runner=UnsandboxedWorkflowRunner())
    await replayer.replay_workflow(history)


def test_unanswered_questions_cluster_by_their_most_shared_keyword() -> None:
    topics = cluster_topics(
        ["How do I reset my password?", "password reset link expired", "Where is my invoice?", "hi"]
    )
    assert topics[0] == topics[1] in ("password", "reset")
    assert topics[2] == "invoice" and topics[3] == "(no keywords)"


async def test_budget_burn_reads_the_daily_routing_budget_at_a_monthly_pace(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    budgeted = await make_tenant(api, admin, settings={"daily_budget_usd": 0.00001})
    try:
        await _turn(budgeted, await new_conversation(budgeted), "How do I cancel my subscription?")
        await _refresh(budgeted.client)
        cost = (await budgeted.client.get("/v1/analytics/cost")).json()["summary"]
        assert cost["monthly_budget_usd"] == pytest.approx(0.0003)
        assert cost["cost_usd"] > 0 and cost["budget_burn"] > 0, cost
    finally:
        await budgeted.client.aclose()
