"""Escalations in Slack end to end: a new escalation is posted to the agents' channel with a
Claim button (to a local stand-in for the Slack Web API, tests.channels.standins.SlackStandIn);
a press arrives at the interactivity endpoint signed by Slack's documented scheme; the Slack
user is mapped to a Helpdeck agent by email (users.info on the stand-in) and claims through the
escalation workflow's update, like the API; the notice then shows who claimed it. The press is
a workflow (SlackClaimWorkflow) started before Slack gets its answer, one per press.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from urllib.parse import urlencode

import httpx
import pytest
from temporalio.client import Client

from activities.slack_claims import SlackClaimInput
from helpdeck.channels import slack
from helpdeck.channels.inbound import start_slack_claim
from helpdeck.errors import IntakeUnavailable
from tests.channels.standins import SlackStandIn, slack_headers
from tests.channels.test_channel_reply_history import HISTORIES, _replay
from tests.conftest import Api, Tenant, new_conversation
from tests.escalations.support import escalate, make_agent
from tests.webhooks.support import eventually
from workflows.slack_claim import SlackClaimWorkflow, slack_claim_workflow_id

SECRET = "slack-claims-signing-secret"
AGENTS = "C0AGENTS"


@pytest.fixture
async def slack_tenant(tenant: Tenant, slack_api: SlackStandIn) -> Tenant:
    body = {
        "signing_secret": SECRET,
        "bot_token": "xoxb-test-token",
        "api_base_url": slack_api.api_base_url,
        "agents_channel": AGENTS,
    }
    response = await tenant.client.put("/v1/channels/slack", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["settings"]["agents_channel"] == AGENTS
    return tenant


def press(slack_user: str, escalation_id: str, message_ts: str, action_ts: str | None = None) -> bytes:
    payload: dict = {
        "type": "block_actions",
        "user": {"id": slack_user},
        "team": {"id": "T0TEAM"},
        "container": {"type": "message", "channel_id": AGENTS, "message_ts": message_ts},
        "channel": {"id": AGENTS},
        "message": {"ts": message_ts},
        "actions": [{"action_id": "helpdeck_claim_escalation", "value": escalation_id, "type": "button"}],
    }
    if action_ts is not None:
        payload["actions"][0]["action_ts"] = action_ts
    return urlencode({"payload": json.dumps(payload)}).encode()


async def _press(api: Api, tenant: Tenant, body: bytes, timestamp: int | None = None) -> httpx.Response:
    headers = {**slack_headers(SECRET, body, timestamp), "content-type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=api.url) as client:
        return await client.post(f"/channels/slack/{tenant.id}/interactions", content=body, headers=headers)


async def _notice(slack_api: SlackStandIn, escalation_id: str) -> dict:
    def find() -> list[dict]:
        return [
            c for c in slack_api.posts()
            if c["body"].get("channel") == AGENTS
            and any(
                e.get("value") == escalation_id
                for b in c["body"].get("blocks", []) if b.get("type") == "actions"
                for e in b.get("elements", [])
            )
        ]  # fmt: skip

    found = await eventually(find)
    assert len(found) == 1  # posted once
    return found[0]


async def test_an_escalation_is_posted_with_a_claim_button_and_a_known_agent_claims_it_from_slack(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    agent = await make_agent(api, slack_tenant, name="Ada Agent")
    slack_api.users["U0ADA"] = agent.email.upper()  # Slack keeps the case people typed
    conversation = await new_conversation(slack_tenant)
    escalation = await escalate(slack_tenant, conversation, reason="customer asks for a refund")
    escalation_id = escalation["id"]

    notice = await _notice(slack_api, escalation_id)
    buttons = [e for b in notice["body"]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons[0]["action_id"] == "helpdeck_claim_escalation" and buttons[0]["text"]["text"] == "Claim"
    assert "customer asks for a refund" in notice["body"]["text"]

    answered = await _press(api, slack_tenant, press("U0ADA", escalation_id, notice["ts"]))
    assert answered.status_code == 200, answered.text

    updates = await eventually(lambda: slack_api.calls_to("chat.update"))
    assert updates[0]["body"]["ts"] == notice["ts"] and updates[0]["body"]["channel"] == AGENTS
    assert "Claimed by Ada Agent" in updates[0]["body"]["text"]
    assert not [b for b in updates[0]["body"]["blocks"] if b["type"] == "actions"]  # the button is gone
    shown = (await slack_tenant.client.get(f"/v1/escalations/{escalation_id}")).json()
    assert shown["status"] == "claimed" and shown["claimed_by"] == agent.id
    # The agent now owns it: the API lets them reply, as after a claim made in the console.
    reply = await agent.client.post(f"/v1/escalations/{escalation_id}/messages", json={"content": "On it."})
    assert reply.status_code == 201, reply.text
    assert slack_api.calls_to("chat.postEphemeral") == []
    await agent.client.aclose()


async def test_an_unknown_slack_user_is_refused_ephemerally_and_nothing_changes(
    api: Api, slack_tenant: Tenant, other_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    outsider = await make_agent(api, other_tenant)  # an agent, but of another company
    analyst = await make_agent(api, slack_tenant, role="analyst")  # of this company, cannot claim
    slack_api.users["U0OUTSIDER"] = outsider.email
    slack_api.users["U0ANALYST"] = analyst.email
    conversation = await new_conversation(slack_tenant)
    escalation_id = (await escalate(slack_tenant, conversation))["id"]
    notice = await _notice(slack_api, escalation_id)

    for slack_user in ("U0NOBODY", "U0OUTSIDER", "U0ANALYST"):
        answered = await _press(api, slack_tenant, press(slack_user, escalation_id, notice["ts"]))
        assert answered.status_code == 200, answered.text
        refusals = await eventually(
            lambda u=slack_user: [c for c in slack_api.calls_to("chat.postEphemeral") if c["body"]["user"] == u]
        )
        assert refusals[0]["body"]["channel"] == AGENTS and "Only Helpdeck agents" in refusals[0]["body"]["text"]

    shown = (await slack_tenant.client.get(f"/v1/escalations/{escalation_id}")).json()
    assert shown["status"] == "waiting" and shown["claimed_by"] is None
    assert slack_api.calls_to("chat.update") == []
    for person in (outsider, analyst):
        await person.client.aclose()


async def test_a_second_press_after_a_claim_tells_the_presser_who_was_faster(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    first, second = await make_agent(api, slack_tenant), await make_agent(api, slack_tenant)
    slack_api.users.update({"U0FIRST": first.email, "U0SECOND": second.email})
    escalation_id = (await escalate(slack_tenant, await new_conversation(slack_tenant)))["id"]
    notice = await _notice(slack_api, escalation_id)
    claimed = await first.client.post(f"/v1/escalations/{escalation_id}/claim")  # in the console
    assert claimed.status_code == 200, claimed.text

    await _press(api, slack_tenant, press("U0SECOND", escalation_id, notice["ts"]))
    told = await eventually(lambda: slack_api.calls_to("chat.postEphemeral"))
    assert "already claimed" in told[0]["body"]["text"]
    shown = (await slack_tenant.client.get(f"/v1/escalations/{escalation_id}")).json()
    assert shown["claimed_by"] == first.id


async def test_a_forged_press_is_refused_and_claims_nothing(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    agent = await make_agent(api, slack_tenant)
    slack_api.users["U0ADA"] = agent.email
    escalation_id = (await escalate(slack_tenant, await new_conversation(slack_tenant)))["id"]
    body = press("U0ADA", escalation_id, "1.0")
    headers = {**slack_headers("not-the-secret-at-all", body), "content-type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(base_url=api.url) as client:
        refused = await client.post(f"/channels/slack/{slack_tenant.id}/interactions", content=body, headers=headers)
    assert refused.status_code == 401
    shown = (await slack_tenant.client.get(f"/v1/escalations/{escalation_id}")).json()
    assert shown["status"] == "waiting"
    assert uuid.UUID(escalation_id) and slack_api.calls_to("chat.update") == []


async def test_a_press_delivered_again_claims_once_and_its_workflow_replays(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    agent = await make_agent(api, slack_tenant, name="Once Only")
    slack_api.users["U0ONCE"] = agent.email
    escalation_id = (await escalate(slack_tenant, await new_conversation(slack_tenant)))["id"]
    notice = await _notice(slack_api, escalation_id)
    body = press("U0ONCE", escalation_id, notice["ts"], action_ts="1764067200.000100")

    # Slack delivering the same press again signs it again (a new timestamp); each is accepted.
    now = int(time.time())
    first, again = await _press(api, slack_tenant, body, now - 1), await _press(api, slack_tenant, body, now)
    assert first.status_code == 200 and again.status_code == 200, (first.text, again.text)
    replayed = await _press(api, slack_tenant, body, now)  # the very same signed request: a replay
    assert replayed.status_code == 401 and replayed.json()["code"] == "replayed_request"

    (the_press,) = slack.claim_actions(slack.parse_interaction(body))
    workflow_id = slack_claim_workflow_id(SlackClaimInput(slack_tenant.id, the_press))
    handle = api.runtime.temporal.get_workflow_handle_for(SlackClaimWorkflow.run, workflow_id)
    assert await handle.result() == "claimed"
    run_id = (await handle.describe()).run_id
    late = await _press(api, slack_tenant, body, now + 1)  # after the press was handled
    assert late.status_code == 200, late.text
    assert (await handle.describe()).run_id == run_id  # no second run

    shown = (await slack_tenant.client.get(f"/v1/escalations/{escalation_id}")).json()
    assert shown["status"] == "claimed" and shown["claimed_by"] == agent.id
    assert len(slack_api.calls_to("chat.update")) == 1
    assert slack_api.calls_to("chat.postEphemeral") == []  # nobody was told "already claimed"

    history = await handle.fetch_history()
    await _replay([history])
    if os.environ.get("HELPDECK_SAVE_HISTORIES"):
        (HISTORIES / "slack_claim_claimed.json").write_text(history.to_json())
    await agent.client.aclose()


async def test_a_claim_retried_after_slack_lost_the_edit_answer_still_claims_once(
    api: Api, slack_tenant: Tenant, slack_api: SlackStandIn
) -> None:
    agent = await make_agent(api, slack_tenant, name="Retry Ready")
    slack_api.users["U0RETRY"] = agent.email
    escalation_id = (await escalate(slack_tenant, await new_conversation(slack_tenant)))["id"]
    notice = await _notice(slack_api, escalation_id)
    slack_api.fail_next_update("after")  # the first edit lands, its answer is a 500: the activity retries
    body = press("U0RETRY", escalation_id, notice["ts"], action_ts="1764067201.000200")
    assert (await _press(api, slack_tenant, body)).status_code == 200

    (the_press,) = slack.claim_actions(slack.parse_interaction(body))
    workflow_id = slack_claim_workflow_id(SlackClaimInput(slack_tenant.id, the_press))
    handle = api.runtime.temporal.get_workflow_handle_for(SlackClaimWorkflow.run, workflow_id)
    # The second attempt claims again with the same update id and gets the first claim's answer.
    assert await handle.result() == "claimed"
    updates = slack_api.calls_to("chat.update")
    assert len(updates) == 2 and "Claimed by Retry Ready" in updates[-1]["body"]["text"]
    assert slack_api.calls_to("chat.postEphemeral") == []
    shown = (await slack_tenant.client.get(f"/v1/escalations/{escalation_id}")).json()
    assert shown["status"] == "claimed" and shown["claimed_by"] == agent.id
    await agent.client.aclose()


async def test_a_press_is_refused_with_503_when_temporal_cannot_be_reached(api: Api, slack_tenant: Tenant) -> None:
    unreachable = await Client.connect("127.0.0.1:1", lazy=True)  # nothing listens on port 1
    runtime = dataclasses.replace(api.runtime, temporal=unreachable)
    action = slack.SlackAction(slack.CLAIM_ACTION, str(uuid.uuid4()), "U0ADA", "T0TEAM", AGENTS, "1.0", "2.0")
    with pytest.raises(IntakeUnavailable) as refused:
        await start_slack_claim(runtime, uuid.UUID(slack_tenant.id), action)
    assert refused.value.status == 503 and refused.value.code == "intake_unavailable"
