"""The webhook routes' contract: bad input gets a problem with a stable code and writes nothing;
only secret keys reach them; listing, changing and deleting behave as a company expects."""

from __future__ import annotations

import pytest

from tests.conftest import Tenant

GOOD = {"url": "http://127.0.0.1:9/hook", "events": ["document.ready"]}


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"url": "http://127.0.0.1:9/hook", "events": ["order.shipped"]}, "validation_error"),
        ({"url": "http://127.0.0.1:9/hook", "events": []}, "validation_error"),
        ({"url": "http://127.0.0.1:9/hook"}, "validation_error"),
        ({**GOOD, "secret": "whsec_mine"}, "unknown_field"),
        ({**GOOD, "url": "not a url"}, "webhook_url_invalid"),
        ({**GOOD, "url": "x" * 3000}, "validation_error"),
        ({**GOOD, "description": "d" * 501}, "validation_error"),
    ],
)
async def test_bad_registrations_are_refused_with_a_stable_code_and_write_nothing(
    tenant: Tenant, body: dict, code: str
) -> None:
    response = await tenant.client.post("/v1/webhooks", json=body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code
    assert (await tenant.client.get("/v1/webhooks")).json()["items"] == []


async def test_a_webhook_can_be_listed_changed_disabled_and_deleted(tenant: Tenant) -> None:
    made = (await tenant.client.post("/v1/webhooks", json={**GOOD, "description": "crm"})).json()
    assert [w["id"] for w in (await tenant.client.get("/v1/webhooks")).json()["items"]] == [made["id"]]

    changed = await tenant.client.patch(
        f"/v1/webhooks/{made['id']}",
        json={"events": ["message.created", "message.created", "conversation.resolved"], "disabled": True},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["events"] == ["message.created", "conversation.resolved"]
    assert changed.json()["disabled"] is True and changed.json()["disabled_reason"] == "manual"
    assert changed.json()["description"] == "crm"
    bad = await tenant.client.patch(f"/v1/webhooks/{made['id']}", json={"events": ["nope"]})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"
    too_long = await tenant.client.post(f"/v1/webhooks/{made['id']}/rotate-secret", json={"overlap_seconds": 10**7})
    assert too_long.status_code == 422

    assert (await tenant.client.delete(f"/v1/webhooks/{made['id']}")).status_code == 204
    assert (await tenant.client.get(f"/v1/webhooks/{made['id']}")).status_code == 404
    assert (await tenant.client.get(f"/v1/webhooks/{made['id']}/deliveries")).status_code == 404


async def test_deliveries_page_with_a_cursor_and_refuse_a_bad_one(tenant: Tenant) -> None:
    made = (await tenant.client.post("/v1/webhooks", json=GOOD)).json()
    pings = [(await tenant.client.post(f"/v1/webhooks/{made['id']}/test")).json()["delivery_id"] for _ in range(3)]
    await tenant.client.patch(f"/v1/webhooks/{made['id']}", json={"disabled": True})  # nothing listens there
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await tenant.client.get(f"/v1/webhooks/{made['id']}/deliveries", params=params)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(pings))
    bad = await tenant.client.get(f"/v1/webhooks/{made['id']}/deliveries", params={"cursor": "garbage!"})
    assert bad.status_code == 422


async def test_a_publishable_key_cannot_reach_webhooks(tenant: Tenant) -> None:
    import httpx

    key = (
        await tenant.client.post("/v1/keys", json={"kind": "publishable", "allowed_origins": ["https://shop.example"]})
    ).json()["key"]
    async with httpx.AsyncClient(
        base_url=str(tenant.client.base_url),
        headers={"Authorization": f"Bearer {key}", "Origin": "https://shop.example"},
    ) as widget:
        response = await widget.get("/v1/webhooks")
    assert response.status_code == 403 and response.json()["code"] == "forbidden"
