"""Widget traffic is rate limited per visitor and per company (token buckets in Redis): over
either, a 429 problem with Retry-After that the widget's page can read (CORS)."""

from __future__ import annotations

import httpx

from helpdeck.services.visitors import widget_limits
from tests.conftest import Api, make_tenant
from tests.widget.test_widget import open_visitor, publishable


def assert_rate_limited(response: httpx.Response, origin: str, who: str) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "rate_limited" and who in body["detail"]
    assert int(response.headers["Retry-After"]) >= 1 and body["retry_after"] >= 1
    assert response.headers["access-control-allow-origin"] == origin


async def test_a_visitor_over_their_minute_gets_429_and_other_visitors_go_on(
    api: Api, admin: httpx.AsyncClient
) -> None:
    origin = "https://busy-visitor.example.com"
    company = await make_tenant(api, admin, settings={"widget": {"visitor_requests_per_minute": 3}})
    key = await publishable(company, origin)
    chatty, chatty_headers = await open_visitor(api, key, origin)
    quiet, quiet_headers = await open_visitor(api, key, origin)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        for _ in range(3):
            assert (await client.get(f"/v1/conversations/{chatty}/messages", headers=chatty_headers)).status_code == 200
        refused = await client.get(f"/v1/conversations/{chatty}/messages", headers=chatty_headers)
        assert_rate_limited(refused, origin, "visitor")
        posted = await client.post(
            f"/v1/conversations/{chatty}/messages", json={"content": "hello?"}, headers=chatty_headers
        )
        assert_rate_limited(posted, origin, "visitor")
        assert (await client.get(f"/v1/conversations/{quiet}/messages", headers=quiet_headers)).status_code == 200
    # Nothing was recorded for the refused message; the company's own server traffic is not widget traffic.
    history = await company.client.get(f"/v1/conversations/{chatty}/messages")
    assert history.status_code == 200 and history.json()["items"] == []
    await company.client.aclose()


async def test_a_company_over_its_minute_gets_429_even_for_a_new_visitor(api: Api, admin: httpx.AsyncClient) -> None:
    origin = "https://busy-company.example.com"
    company = await make_tenant(api, admin, settings={"widget": {"company_requests_per_minute": 4}})
    other = await make_tenant(api, admin, settings={"widget": {"company_requests_per_minute": 4}})
    key = await publishable(company, origin)
    first, first_headers = await open_visitor(api, key, origin)  # 1
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        for _ in range(2):  # 2, 3
            assert (await client.get(f"/v1/conversations/{first}/messages", headers=first_headers)).status_code == 200
        _, second_headers = await open_visitor(api, key, origin)  # 4: the company's last request this minute
        opened = await client.post(
            "/v1/widget/conversations", json={}, headers={"Authorization": f"Bearer {key}", "Origin": origin}
        )
        assert_rate_limited(opened, origin, "company")
        config = await client.get("/v1/widget/config", params={"key": key}, headers={"Origin": origin})
        assert_rate_limited(config, origin, "company")
        assert second_headers["X-Visitor-Token"] != first_headers["X-Visitor-Token"]
    # Another company's widget is not affected by this one's traffic.
    other_key = await publishable(other, origin)
    await open_visitor(api, other_key, origin)
    await company.client.aclose()
    await other.client.aclose()


def test_a_company_may_lower_the_platform_widget_limits_but_not_raise_them() -> None:
    assert widget_limits({}, 60, 1200) == (60, 1200)
    lowered = {"widget": {"visitor_requests_per_minute": 5, "company_requests_per_minute": 100}}
    assert widget_limits(lowered, 60, 1200) == (5, 100)
    raised = {"widget": {"visitor_requests_per_minute": 6000, "company_requests_per_minute": 10**6}}
    assert widget_limits(raised, 60, 1200) == (60, 1200)
    nonsense = {"widget": {"visitor_requests_per_minute": "lots", "company_requests_per_minute": 0}}
    assert widget_limits(nonsense, 60, 1200) == (60, 1)
