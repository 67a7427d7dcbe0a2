"""Tenant isolation: company B can neither read, list, change nor delete anything of company A.

Every route with an id in its path is in MATRIX; a test fails when a new route is added to the
API without joining it, so isolation is checked for routes nobody has written yet.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.actions.support import owned_action
from tests.conftest import Api, Tenant, new_conversation
from tests.webhooks.support import owned_webhook

# (method, path template, body) — {conversation}, {key}, {turn} are filled with A's real ids.
MATRIX = [
    ("GET", "/v1/conversations/{conversation}", None),
    ("GET", "/v1/conversations/{conversation}/messages", None),
    ("POST", "/v1/conversations/{conversation}/messages", {"content": "let me in"}),
    ("GET", "/v1/conversations/{conversation}/turns/{turn}/events", None),
    ("GET", "/v1/conversations/{conversation}/live", None),
    ("DELETE", "/v1/keys/{key}", None),
    ("POST", "/v1/keys/{key}/rotate", {}),
    ("GET", "/v1/webhooks/{webhook}", None),
    ("PATCH", "/v1/webhooks/{webhook}", {"description": "mine now"}),
    ("DELETE", "/v1/webhooks/{webhook}", None),
    ("POST", "/v1/webhooks/{webhook}/rotate-secret", {}),
    ("GET", "/v1/webhooks/{webhook}/deliveries", None),
    ("POST", "/v1/webhooks/{webhook}/deliveries/{delivery}/replay", None),
    ("POST", "/v1/webhooks/{webhook}/test", None),
    ("POST", "/v1/messages/{message}/feedback", {"rating": "down"}),
    ("POST", "/v1/messages/{message}/citation-clicks", {"chunk_id": "chunk-1"}),
    ("POST", "/v1/conversations/{conversation}/csat", {"score": 1}),
    ("POST", "/v1/conversations/{conversation}/escalate", {"reason": "take over"}),
    ("GET", "/v1/documents/{document}", None),
    ("DELETE", "/v1/documents/{document}", None),
    ("GET", "/v1/sources/{source}", None),
    ("GET", "/v1/actions/{action}", None),
    ("PATCH", "/v1/actions/{action}", {"description": "mine now"}),
    ("DELETE", "/v1/actions/{action}", None),
]

# Routes of the agent queue, called by a signed-in owner of company B with A's escalation id.
AGENT_MATRIX = [
    ("GET", "/v1/escalations/{escalation}", None),
    ("GET", "/v1/escalations/{escalation}/messages", None),
    ("POST", "/v1/escalations/{escalation}/claim", None),
    ("POST", "/v1/escalations/{escalation}/messages", {"content": "hijack"}),
    ("POST", "/v1/escalations/{escalation}/release", None),
    ("POST", "/v1/escalations/{escalation}/resolve", {"resolution": "mine"}),
]

# Where Slack and Discord call us: no key, the company is in the path and the platform's signature
# (with that company's stored secret) authenticates. tests/channels/test_channel_isolation.py
# checks that company B's signature on A's endpoint is refused and nothing of A's is touched.
PLATFORM_ROUTES = [
    ("POST", "/channels/slack/{company_id}/events"),
    ("POST", "/channels/slack/{company_id}/interactions"),
    ("POST", "/channels/discord/{company_id}/interactions"),
]


@pytest.fixture
async def owned(tenant: Tenant) -> dict[str, str]:
    conversation = await new_conversation(tenant)
    turn = await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "secret order 1234"})
    key = await tenant.client.post("/v1/keys", json={"kind": "secret", "name": "a-only"})
    hooks = await owned_webhook(tenant)  # {webhook}, {delivery}
    document = await tenant.client.post("/v1/documents", json={"text": "secret recipe: 3 eggs", "title": "Recipe"})
    source = await tenant.client.post("/v1/sources", json={"url": "http://127.0.0.1:9/", "max_pages": 1})
    hooks |= {"document": document.json()["id"], "source": source.json()["id"]}
    hooks |= await owned_action(tenant)  # {action}
    return hooks | {"conversation": conversation, "turn": turn.json()["turn_id"], "key": key.json()["id"], "message": turn.json()["message"]["id"]}


def test_every_route_with_an_id_is_in_the_matrix(api: Api) -> None:
    from api.app import create_app

    app_routes = set()

    spec = create_app(api.settings).openapi()
    for path, operations in spec["paths"].items():
        for method in operations:
            if "{" in path and not path.startswith("/v1/companies"):
                app_routes.add((method.upper(), path))
    covered = {(m, p.replace("{conversation}", "{conversation_id}").replace("{key}", "{key_id}").replace("{turn}", "{turn_id}").replace("{webhook}", "{webhook_id}").replace("{delivery}", "{delivery_id}").replace("{message}", "{message_id}").replace("{document}", "{document_id}").replace("{source}", "{source_id}").replace("{action}", "{action_id}")) for m, p, _ in MATRIX}
    covered |= {(m, p.replace("{escalation}", "{escalation_id}")) for m, p, _ in AGENT_MATRIX}
    covered |= set(PLATFORM_ROUTES)
    assert app_routes <= covered, f"add these routes to the isolation matrix: {sorted(app_routes - covered)}"


@pytest.mark.parametrize(("method", "template", "body"), MATRIX)
async def test_other_company_gets_404_exactly_like_an_unknown_id(
    tenant: Tenant, other_tenant: Tenant, owned: dict[str, str], method: str, template: str, body: dict | None
) -> None:
    foreign_url = template.format(**owned)
    unknown_url = template.format(conversation=uuid.uuid4(), key=uuid.uuid4(), turn=f"turn-{uuid.uuid4()}-x", webhook=uuid.uuid4(), delivery=uuid.uuid4(), message=uuid.uuid4(), document=uuid.uuid4(), source=uuid.uuid4(), action=uuid.uuid4())
    foreign = await other_tenant.client.request(method, foreign_url, json=body)
    unknown = await other_tenant.client.request(method, unknown_url, json=body)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "not_found"
    # And nothing changed for the owner.
    assert (await tenant.client.get(f"/v1/conversations/{owned['conversation']}/messages")).json()["items"][0]["content"] == "secret order 1234"
    assert owned["key"] in {k["id"] for k in (await tenant.client.get("/v1/keys")).json()["items"]}
    assert (await tenant.client.get(f"/v1/webhooks/{owned['webhook']}")).json()["description"] == ""
    assert (await tenant.client.get(f"/v1/documents/{owned['document']}")).status_code == 200
    assert (await tenant.client.get(f"/v1/actions/{owned['action']}")).json()["description"] != "mine now"


async def test_lists_show_only_the_callers_own_rows(tenant: Tenant, other_tenant: Tenant, owned: dict[str, str]) -> None:
    theirs = await other_tenant.client.get("/v1/conversations")
    assert owned["conversation"] not in {c["id"] for c in theirs.json()["items"]}
    assert owned["key"] not in {k["id"] for k in (await other_tenant.client.get("/v1/keys")).json()["items"]}
    filtered = await other_tenant.client.get("/v1/conversations", params={"user_id": "user-1"})
    assert owned["conversation"] not in {c["id"] for c in filtered.json()["items"]}
    mine = await tenant.client.get("/v1/conversations")
    assert owned["conversation"] in {c["id"] for c in mine.json()["items"]}


async def test_conversation_listing_paginates_with_a_cursor(tenant: Tenant) -> None:
    made = [await new_conversation(tenant, user_id=f"pager-{n}") for n in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await tenant.client.get("/v1/conversations", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    assert (await tenant.client.get("/v1/conversations", params={"cursor": "garbage!"})).status_code == 422


async def test_admin_routes_refuse_company_keys(api: Api, tenant: Tenant) -> None:
    async with httpx.AsyncClient(base_url=api.url, headers={"Authorization": f"Bearer {tenant.key}"}) as client:
        assert (await client.get("/v1/companies")).status_code == 401
        assert (await client.post("/v1/companies", json={"name": "takeover"})).status_code == 401


@pytest.mark.parametrize(("method", "template", "body"), AGENT_MATRIX)
async def test_an_agent_of_another_company_gets_404_on_an_escalation_exactly_like_an_unknown_id(
    api: Api, tenant: Tenant, other_tenant: Tenant, method: str, template: str, body: dict | None
) -> None:
    from tests.escalations.support import escalate, make_agent

    conversation = await new_conversation(tenant)
    escalation = await escalate(tenant, conversation)
    intruder = await make_agent(api, other_tenant, "owner")
    foreign = await intruder.client.request(method, template.format(escalation=escalation["id"]), json=body)
    unknown = await intruder.client.request(method, template.format(escalation=uuid.uuid4()), json=body)
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json()["code"] == unknown.json()["code"] == "not_found"
    mine = (await tenant.client.get(f"/v1/escalations/{escalation['id']}")).json()
    assert mine["status"] == "waiting" and mine["claimed_by"] is None
    assert escalation["id"] not in {e["id"] for e in (await intruder.client.get("/v1/escalations")).json()["items"]}
    await intruder.client.aclose()
