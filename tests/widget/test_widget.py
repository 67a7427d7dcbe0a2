"""The web widget on the real stack: visitor tokens, CORS, live delivery, and Chromium."""

from __future__ import annotations

import asyncio
import functools
import http.server
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from helpdeck.embedded import free_port
from tests.conftest import Api, Tenant
from tests.escalations.support import make_agent

DOCS = Path(__file__).resolve().parents[2] / "docs"
CHROMIUM = "/usr/bin/chromium"


async def publishable(tenant: Tenant, origin: str) -> str:
    made = await tenant.client.post("/v1/keys", json={"kind": "publishable", "allowed_origins": [origin]})
    assert made.status_code == 201, made.text
    return made.json()["key"]


async def open_visitor(api: Api, key: str, origin: str) -> tuple[str, dict]:
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        made = await client.post(
            "/v1/widget/conversations", json={}, headers={"Authorization": f"Bearer {key}", "Origin": origin}
        )
    assert made.status_code == 201, made.text
    body = made.json()
    assert made.headers["access-control-allow-origin"] == origin
    headers = {"Authorization": f"Bearer {key}", "Origin": origin, "X-Visitor-Token": body["visitor_token"]}
    return body["conversation"]["id"], headers


async def test_visitor_reads_only_their_own_conversation(api: Api, tenant: Tenant) -> None:
    origin = "https://shop.example.com"
    key = await publishable(tenant, origin)
    mine, headers = await open_visitor(api, key, origin)
    theirs, their_headers = await open_visitor(api, key, origin)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        ok = await client.get(f"/v1/conversations/{mine}/messages", headers=headers)
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == origin
        foreign = await client.get(f"/v1/conversations/{theirs}/messages", headers=headers)
        assert foreign.status_code == 403 and foreign.json()["code"] == "visitor_forbidden"
        no_token = {k: v for k, v in headers.items() if k != "X-Visitor-Token"}
        missing = await client.get(f"/v1/conversations/{mine}", headers=no_token)
        assert missing.status_code == 401 and missing.json()["code"] == "visitor_token_required"
        forged = {**headers, "X-Visitor-Token": "hd_vt_abc.def"}
        assert (await client.get(f"/v1/conversations/{mine}/live", headers=forged)).status_code == 403
        post = await client.post(f"/v1/conversations/{theirs}/messages", json={"content": "hi"}, headers=headers)
        assert post.status_code == 403
        escalate = await client.post(f"/v1/conversations/{theirs}/escalate", json={}, headers=headers)
        assert escalate.status_code == 403
        # Another company's secret key sees nothing; the company's own secret key reads it.
        assert (await tenant.client.get(f"/v1/conversations/{mine}/messages")).status_code == 200
        assert their_headers["X-Visitor-Token"] != headers["X-Visitor-Token"]


async def test_cors_preflight_and_config(api: Api, tenant: Tenant, admin: httpx.AsyncClient) -> None:
    origin = "https://cors.example.com"
    widget = {"theme_color": "#aa0000", "greeting": {"en": "Hello there", "de": "Servus"}}
    await admin.patch(f"/v1/companies/{tenant.id}", json={"settings": {"widget": widget}})
    key = await publishable(tenant, origin)
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        pre = await client.options(
            "/v1/widget/conversations",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == origin
        assert "X-Visitor-Token" in pre.headers["access-control-allow-headers"]
        evil = await client.options(
            "/v1/widget/conversations",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert evil.status_code == 403 and "access-control-allow-origin" not in evil.headers
        config = await client.get("/v1/widget/config", params={"key": key}, headers={"Origin": origin})
        assert config.status_code == 200, config.text
        assert config.headers["access-control-allow-origin"] == origin
        refused = await client.get("/v1/widget/config", params={"key": key}, headers={"Origin": "https://evil.example"})
        assert refused.status_code == 403 and "access-control-allow-origin" not in refused.headers
        script = await client.get("/widget.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]


async def read_events(response: httpx.Response, count: int, limit_s: float = 10) -> list[dict]:
    events: list[dict] = []
    current: dict = {}

    lines = response.extensions.setdefault("hd_lines", response.aiter_lines())

    async def consume() -> None:
        nonlocal current
        async for line in lines:
            if not line:
                if "data" in current:
                    events.append(current)
                    if len(events) >= count:
                        return
                current = {}
            elif not line.startswith(":"):
                field, _, value = line.partition(": ")
                current[field] = json.loads(value) if field == "data" else value

    await asyncio.wait_for(consume(), limit_s)
    return events


async def test_live_feed_delivers_agent_messages_and_resumes(api: Api, tenant: Tenant) -> None:
    origin = "https://live.example.com"
    key = await publishable(tenant, origin)
    conversation, headers = await open_visitor(api, key, origin)
    agent = await make_agent(api, tenant)
    escalation = (await tenant.client.post(f"/v1/conversations/{conversation}/escalate", json={})).json()
    assert (await agent.client.post(f"/v1/escalations/{escalation['id']}/claim")).status_code == 200
    async with httpx.AsyncClient(base_url=api.url, timeout=30) as client:
        async with client.stream("GET", f"/v1/conversations/{conversation}/live", headers=headers) as live:
            assert live.status_code == 200
            [ready] = await read_events(live, 1)
            assert ready["event"] == "ready"
            sent = await agent.client.post(f"/v1/escalations/{escalation['id']}/messages", json={"content": "first"})
            assert sent.status_code == 201, sent.text
            [first] = await read_events(live, 1)
            assert first["data"]["message"]["content"] == "first" and first["data"]["message"]["role"] == "agent"
        await agent.client.post(f"/v1/escalations/{escalation['id']}/messages", json={"content": "second"})
        await agent.client.post(f"/v1/escalations/{escalation['id']}/resolve", json={"hand_back_to_bot": True})
        resumed_headers = {**headers, "Last-Event-ID": first["id"]}
        async with client.stream("GET", f"/v1/conversations/{conversation}/live", headers=resumed_headers) as live:
            missed = await read_events(live, 2)
        assert missed[0]["data"]["message"]["content"] == "second"
        assert missed[1]["event"] == "status" and missed[1]["data"]["status"] == "active"
        bad = await client.get(f"/v1/conversations/{conversation}/live", headers={**headers, "Last-Event-ID": "x"})
        assert bad.status_code == 422
    await agent.client.aclose()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield tmp_path, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


def page_html(api: Api, key: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta name=viewport content='width=device-width'><title>Shop</title></head>"
        f"<body><h1>Shop</h1><script src='{api.url}/widget.js' data-key='{key}'></script></body></html>"
    )


async def test_widget_in_chromium(api: Api, tenant: Tenant, site: tuple[Path, str]) -> None:
    from playwright.async_api import async_playwright, expect

    root, origin = site
    key = await publishable(tenant, origin)
    (root / "index.html").write_text(page_html(api, key))
    evil_key = await publishable(tenant, "https://elsewhere.example")
    (root / "evil.html").write_text(page_html(api, evil_key))
    agent = await make_agent(api, tenant)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            context = await browser.new_context(locale="en-US", viewport={"width": 1100, "height": 760})
            page = await context.new_page()
            await page.goto(f"{origin}/index.html")
            await page.get_by_role("button", name="Chat with us").click()
            box = page.get_by_role("textbox", name="Message")
            await box.fill("How do I reset my password?")
            await box.press("Enter")  # keyboard only
            answer = page.locator(".hd-a").nth(1)
            await expect(answer).not_to_be_empty(timeout=20000)
            await expect(page.locator(".hd-t")).to_be_empty(timeout=20000)
            await page.screenshot(path=str(DOCS / "widget-answer.png"))
            state = await page.evaluate("Object.keys(localStorage).map(k => localStorage.getItem(k))[0]")
            conversation = json.loads(state)["c"]

            await box.fill("I want to talk to a human")
            await page.get_by_role("button", name="Send").click()
            await expect(page.locator(".hd-t")).to_be_empty(timeout=20000)
            status = (await tenant.client.get(f"/v1/conversations/{conversation}")).json()["status"]
            if status != "escalated":  # the turn did not escalate on its own: escalate via the API
                path = f"/v1/conversations/{conversation}/escalate"
                await tenant.client.post(path, json={"reason": "asked for a human"})
            queue = (await tenant.client.get("/v1/escalations", params={"status": "waiting"})).json()["items"]
            escalation = next(e for e in queue if e["conversation_id"] == conversation)
            assert (await agent.client.post(f"/v1/escalations/{escalation['id']}/claim")).status_code == 200

            await page.reload()
            await page.get_by_role("button", name="Chat with us").click()
            await expect(page.locator(".hd-u")).to_have_count(2, timeout=10000)  # survived the reload
            await asyncio.sleep(1.0)  # the live stream is open
            sent_at = time.monotonic()
            sent = await agent.client.post(
                f"/v1/escalations/{escalation['id']}/messages", json={"content": "Hi, this is Ada from support."}
            )
            assert sent.status_code == 201
            await expect(page.locator("[data-role=agent]")).to_have_text("Hi, this is Ada from support.", timeout=5000)
            delivered = time.monotonic() - sent_at
            assert delivered <= 2.0, f"agent reply took {delivered:.2f}s to appear"
            await page.screenshot(path=str(DOCS / "widget-agent.png"))

            mobile = await browser.new_context(locale="de-DE", viewport={"width": 375, "height": 700})
            phone = await mobile.new_page()
            await phone.goto(f"{origin}/index.html")
            await phone.get_by_role("button", name="Chatten Sie mit uns").click()
            await expect(phone.get_by_role("textbox", name="Nachricht")).to_be_visible()
            width = await phone.evaluate("document.querySelector('.hd-p').getBoundingClientRect().width")
            assert width <= 375
            await phone.screenshot(path=str(DOCS / "widget-mobile-de.png"))

            refused: list[str] = []
            evil = await context.new_page()
            evil.on("requestfailed", lambda r: refused.append(r.url) if "/v1/widget/" in r.url else None)
            await evil.goto(f"{origin}/evil.html")
            await evil.get_by_role("button", name="Chat with us").click()
            await evil.get_by_role("textbox", name="Message").fill("hello?")
            await evil.get_by_role("button", name="Send").click()
            await expect(evil.locator(".hd-s")).to_have_count(1, timeout=10000)  # the error note
            assert refused, "the browser should have refused the widget's requests (CORS)"
            prefix = "hd_widget_" + evil_key[:18]
            stored = await evil.evaluate(f"Object.keys(localStorage).filter(k => k === {json.dumps(prefix)})")
            assert stored == []  # no conversation was opened from the disallowed origin
            await evil.screenshot(path=str(DOCS / "widget-refused.png"))
        finally:
            await browser.close()
    await agent.client.aclose()
    print(f"\nwidget: agent reply appeared after {delivered * 1000:.0f} ms")
