"""Registering a company's HTTP actions: validation with stable problem codes and no partial
writes, header values that never come back, SSRF refusals, and every route scoped to the company."""

from __future__ import annotations

import uuid

import pytest

from helpdeck.tables import Action
from tests.actions.support import ORDER_PARAMETERS, order_status, strict_client
from tests.conftest import Api, Tenant, make_tenant

TOKEN = "Bearer sk_live_0123456789abcdefWXYZ"


async def test_an_action_is_registered_read_changed_listed_and_deleted(tenant: Tenant) -> None:
    made = await tenant.client.post(
        "/v1/actions",
        json=order_status("http://127.0.0.1:9/orders/{order_id}", headers={"Authorization": TOKEN, "X-Shop": "eu-1"}),
    )
    assert made.status_code == 201, made.text
    action = made.json()
    assert action["name"] == "order_status" and action["method"] == "GET"
    assert action["parameters"] == ORDER_PARAMETERS
    assert action["headers"] == {"Authorization": "****WXYZ", "X-Shop": "****"}

    read = await tenant.client.get(f"/v1/actions/{action['id']}")
    assert read.json() == action
    changed = await tenant.client.patch(
        f"/v1/actions/{action['id']}", json={"description": "Order status by number", "method": "POST"}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["description"] == "Order status by number" and changed.json()["method"] == "POST"
    assert changed.json()["headers"] == action["headers"]  # untouched unless given
    cleared = await tenant.client.patch(f"/v1/actions/{action['id']}", json={"headers": {}})
    assert cleared.json()["headers"] == {}

    assert [a["id"] for a in (await tenant.client.get("/v1/actions")).json()["items"]] == [action["id"]]
    assert (await tenant.client.delete(f"/v1/actions/{action['id']}")).status_code == 204
    gone = await tenant.client.get(f"/v1/actions/{action['id']}")
    assert gone.status_code == 404 and gone.json()["code"] == "not_found"


async def test_header_values_are_stored_encrypted_and_never_returned(api: Api, tenant: Tenant) -> None:
    made = await tenant.client.post(
        "/v1/actions", json=order_status("http://127.0.0.1:9/orders/{order_id}", headers={"Authorization": TOKEN})
    )
    shown = [made.text, (await tenant.client.get("/v1/actions")).text,
             (await tenant.client.get(f"/v1/actions/{made.json()['id']}")).text]
    assert not any("sk_live_0123456789abcdef" in text for text in shown)
    async with api.runtime.db.session() as session:
        row = await session.get(Action, uuid.UUID(made.json()["id"]))
        assert row is not None and "sk_live" not in row.sealed_headers and row.sealed_headers


async def test_listing_pages_with_a_cursor(tenant: Tenant) -> None:
    ids = []
    for n in range(5):
        made = await tenant.client.post(
            "/v1/actions", json=order_status("http://127.0.0.1:9/orders/{order_id}", name=f"action-{n}")
        )
        ids.append(made.json()["id"])
    seen, cursor = [], None
    while True:
        page = (await tenant.client.get("/v1/actions", params={"limit": 2, **({"cursor": cursor} if cursor else {})}))
        seen += [a["id"] for a in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert (await tenant.client.get("/v1/actions", params={"cursor": "garbage!"})).status_code == 422


async def test_a_name_is_unique_per_company_only(tenant: Tenant, other_tenant: Tenant) -> None:
    body = order_status("http://127.0.0.1:9/orders/{order_id}")
    first = await tenant.client.post("/v1/actions", json=body)
    again = await tenant.client.post("/v1/actions", json=body)
    assert again.status_code == 409 and again.json()["code"] == "action_name_taken"
    assert (await other_tenant.client.post("/v1/actions", json=body)).status_code == 201
    second = await tenant.client.post("/v1/actions", json={**body, "name": "order_status_2"})
    renamed = await tenant.client.patch(f"/v1/actions/{second.json()['id']}", json={"name": "order_status"})
    assert renamed.status_code == 409 and renamed.json()["code"] == "action_name_taken"
    names = sorted(a["name"] for a in (await tenant.client.get("/v1/actions")).json()["items"])
    assert names == ["order_status", "order_status_2"] and first.status_code == 201
    theirs = {a["id"] for a in (await other_tenant.client.get("/v1/actions")).json()["items"]}
    assert first.json()["id"] not in theirs and len(theirs) == 1


BAD = [
    ({"parameters": {"type": "object", "properties": {"order_id": {"type": "nope"}}}}, "action_parameters_invalid"),
    ({"parameters": {"type": "array", "items": {"type": "string"}}}, "action_parameters_invalid"),
    ({"parameters": {"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}}},
     "action_parameters_invalid"),
    ({"parameters": {"type": "object", "properties": {}, "required": ["order_id"]}}, "action_parameters_invalid"),
    ({"parameters": {"type": "object", "properties": {"bad name": {"type": "string"}}}}, "action_parameters_invalid"),
    ({"parameters": {"type": "object", "properties": {"a": {"$ref": "https://evil.example/s.json"}}}},
     "action_parameters_invalid"),
    ({"method": "FETCH"}, "validation_error"),
    ({"name": "Order Status"}, "validation_error"),
    ({"surprise": 1}, "unknown_field"),
    ({"url": "http://127.0.0.1:9/orders/{customer_id}"}, "action_url_invalid"),
    ({"url": "http://{order_id}.example.com/orders"}, "action_url_invalid"),
    ({"url": "ftp://example.com/orders/{order_id}"}, "action_url_invalid"),
    ({"headers": {"Host": "internal.example"}}, "action_header_invalid"),
    ({"headers": {"X-Key": "a\r\nInjected: 1"}}, "action_header_invalid"),
]


@pytest.mark.parametrize(("change", "code"), BAD)
async def test_bad_input_is_a_problem_with_a_stable_code_and_writes_nothing(
    tenant: Tenant, change: dict, code: str
) -> None:
    response = await tenant.client.post(
        "/v1/actions", json={**order_status("http://127.0.0.1:9/orders/{order_id}"), **change}
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert (await tenant.client.get("/v1/actions")).json()["items"] == []


async def test_a_bad_change_keeps_the_action_as_it_was(tenant: Tenant) -> None:
    made = (await tenant.client.post("/v1/actions", json=order_status("http://127.0.0.1:9/orders/{order_id}"))).json()
    for change, code in BAD:
        response = await tenant.client.patch(f"/v1/actions/{made['id']}", json=change)
        if "name" in change and change["name"] == "Order Status" or "method" in change or "surprise" in change:
            assert response.status_code == 422
            continue
        assert response.status_code == 422 and response.json()["code"] == code, (change, response.text)
    assert (await tenant.client.get(f"/v1/actions/{made['id']}")).json() == made


async def test_a_widget_key_cannot_manage_actions(tenant: Tenant) -> None:
    widget = await tenant.client.post("/v1/keys", json={"kind": "publishable", "allowed_origins": ["https://a.example"]})
    headers = {"Authorization": f"Bearer {widget.json()['key']}", "Origin": "https://a.example"}
    response = await tenant.client.get("/v1/actions", headers=headers)
    assert response.status_code in (401, 403)


UNSAFE = [
    ("https://127.0.0.1/orders/{order_id}", "action_url_forbidden"),
    ("https://169.254.169.254/latest/meta-data/{order_id}", "action_url_forbidden"),
    ("https://10.1.2.3/orders/{order_id}", "action_url_forbidden"),
    ("https://localhost/orders/{order_id}", "action_url_forbidden"),
    ("https://[::1]/orders/{order_id}", "action_url_forbidden"),
    ("http://203.0.113.10/orders/{order_id}", "action_url_not_https"),
    ("https://no-such-host.invalid/orders/{order_id}", "action_url_unresolvable"),
]


async def test_private_loopback_and_metadata_targets_are_refused_at_registration(api: Api, tenant: Tenant) -> None:
    async with strict_client(api, tenant.key) as strict:
        for url, code in UNSAFE:
            response = await strict.post("/v1/actions", json=order_status(url))
            assert response.status_code == 422, (url, response.text)
            assert response.json()["code"] == code, url
        assert (await strict.get("/v1/actions")).json()["items"] == []
        made = await tenant.client.post("/v1/actions", json=order_status("http://127.0.0.1:9/orders/{order_id}"))
        moved = await strict.patch(f"/v1/actions/{made.json()['id']}", json={"url": "https://169.254.169.254/{order_id}"})
        assert moved.status_code == 422 and moved.json()["code"] == "action_url_forbidden"
        assert (await strict.get(f"/v1/actions/{made.json()['id']}")).json()["url"].startswith("http://127.0.0.1:9/")


async def test_a_company_allowed_private_targets_may_register_them(api: Api, admin) -> None:  # type: ignore[no-untyped-def]
    allowed = await make_tenant(api, admin, settings={"allow_private_action_urls": True})
    try:
        async with strict_client(api, allowed.key) as strict:
            response = await strict.post("/v1/actions", json=order_status("http://10.1.2.3/orders/{order_id}"))
            assert response.status_code == 201, response.text
    finally:
        await allowed.client.aclose()
