"""Citations and suggestions in the widget, and the citation clicks the quality page counts:
in Chromium on a page of another origin than the API, and through the API for who may report."""

from __future__ import annotations

import asyncio
import functools
import http.server
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from helpdeck.embedded import free_port
from tests.conftest import Api, Tenant, make_tenant
from tests.dashboard.test_dashboard import _page_script
from tests.knowledge_api.support import ingest
from tests.widget.test_widget import CHROMIUM, DOCS, _Quiet, open_visitor, page_html, publishable

RESET = "How do I reset my password?"
TWO_FACTOR = "Can I get my two-factor codes by email instead of SMS?"
ACCOUNT_FAQ = [
    {
        "question": RESET,
        "answer": "Open Settings, choose Security and click Reset password. Two-factor codes come by SMS.",
    },
    {"question": TWO_FACTOR, "answer": "Yes: under Security, switch two-factor codes to email."},
    {"question": "What payment methods do you accept?", "answer": "We accept Visa, Mastercard and PayPal."},
]
SHIPPING_FAQ = [{"question": "Which countries do you ship to?", "answer": "We ship to every country in the EU."}]


async def offline_company(api: Api, admin: httpx.AsyncClient) -> Tenant:
    """Answers come from the offline composer (no hosted model); follow-ups from a curated list."""
    curated = [TWO_FACTOR, "What payment methods do you accept?"]
    return await make_tenant(api, admin, settings={"offline_only": True, "suggested_questions": curated})


@pytest.fixture
def shop(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The company's own site: another origin than the API's."""
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), functools.partial(_Quiet, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield tmp_path, f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()


async def quality_report(tenant: Tenant) -> dict:
    response = await tenant.client.get("/v1/analytics/quality")
    assert response.status_code == 200, response.text
    return response.json()


async def clicks_by_document(tenant: Tenant, expected: int, limit_s: float = 15) -> dict[str, int]:
    """The quality report's clicks per document once they add up to `expected` (the widget's
    report is fire-and-forget, so it may land a moment after the click)."""
    counts: dict[str, int] = {}
    for _ in range(int(limit_s * 4)):
        rows = (await quality_report(tenant))["tables"]["citation_clicks"]
        counts = {row["document_id"]: row["clicks"] for row in rows}
        if sum(counts.values()) >= expected:
            break
        await asyncio.sleep(0.25)
    return counts


async def test_widget_shows_citation_links_and_suggestion_buttons_and_records_clicks(
    api: Api, admin: httpx.AsyncClient, shop: tuple[Path, str]
) -> None:
    from playwright.async_api import async_playwright, expect

    root, origin = shop
    company = await offline_company(api, admin)
    # The FAQ's source: a page on the company's site (no file extension in the title: the
    # ingestion would take ".html" as the FAQ's format).
    help_page = f"{origin}/help/account/"
    (root / "help" / "account").mkdir(parents=True)
    (root / "help" / "account" / "index.html").write_text("<!doctype html><title>Account help</title><h1>Help</h1>")
    account = await ingest(company, faq=ACCOUNT_FAQ, title=help_page)
    shipping = await ingest(company, faq=SHIPPING_FAQ, title="Shipping FAQ")  # a source that is no URL
    assert account["status"] == shipping["status"] == "ready"
    key = await publishable(company, origin)
    (root / "index.html").write_text(page_html(api, key))
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
            await box.fill(RESET)
            await box.press("Enter")
            answer = page.locator(".hd-a").nth(1)
            await expect(answer).to_contain_text("Reset password", timeout=30000)
            await expect(answer).not_to_contain_text("PayPal")  # one FAQ entry answers, not the whole file
            link = answer.get_by_role("link", name="127.0.0.1")
            await expect(link).to_have_attribute("href", help_page, timeout=10000)
            suggestions = answer.get_by_role("group", name="Suggestions").get_by_role("button")
            await expect(suggestions.first).to_be_visible()
            assert 1 <= await suggestions.count() <= 3
            await page.screenshot(path=str(DOCS / "widget-cited.png"))

            # A suggestion is a button: pressing it (keyboard) asks it as the next message.
            suggestion = answer.get_by_role("button", name=TWO_FACTOR)
            await suggestion.focus()
            await page.keyboard.press("Enter")
            await expect(page.locator(".hd-u").nth(1)).to_have_text(TWO_FACTOR)
            second = page.locator(".hd-a").nth(2)
            await expect(second).to_contain_text("switch two-factor codes to email", timeout=30000)
            await expect(second).not_to_contain_text("click Reset password")
            await expect(second.get_by_role("link")).to_have_attribute("href", help_page)
            await expect(answer.get_by_role("group", name="Suggestions")).to_have_count(0)  # only the latest offers

            # Opening a cited source (keyboard, then mouse) opens the page and records each click.
            async with context.expect_page() as opened:
                await second.get_by_role("link").focus()
                await page.keyboard.press("Enter")
            await (await opened.value).wait_for_load_state()
            assert (await opened.value).url == help_page
            async with context.expect_page():
                await link.click()
            assert await clicks_by_document(company, 2) == {account["id"]: 2}

            # A source that is no URL is shown as a label, not a link.
            await box.fill("Which countries do you ship to?")
            await page.get_by_role("button", name="Send").click()
            third = page.locator(".hd-a").nth(3)
            await expect(third).to_contain_text("every country in the EU", timeout=30000)
            await expect(third.locator(".hd-c")).to_contain_text("Shipping FAQ")
            await expect(third.get_by_role("link")).to_have_count(0)
        finally:
            await browser.close()
    report = await quality_report(company)
    assert report["summary"]["citation_clicks"] == 2
    [row] = report["tables"]["citation_clicks"]
    assert row["source"] == help_page and row["conversations"] == 1
    await company.client.aclose()


async def test_a_visitor_reports_clicks_only_on_replies_in_their_own_conversation(
    api: Api, admin: httpx.AsyncClient
) -> None:
    origin = "https://clicks.example.com"
    company = await offline_company(api, admin)
    account = await ingest(company, faq=ACCOUNT_FAQ, title="https://help.example.com/account")
    key = await publishable(company, origin)
    mine, headers = await open_visitor(api, key, origin)
    _, stranger = await open_visitor(api, key, origin)
    async with httpx.AsyncClient(base_url=api.url, timeout=60) as client:
        turn = await client.post(f"/v1/conversations/{mine}/messages", json={"content": RESET}, headers=headers)
        assert turn.status_code == 200, turn.text
        reply = turn.json()["message"]
        assert reply["citations"] and reply["suggestions"], reply
        chunk = reply["citations"][0]["chunk_id"]
        url = f"/v1/messages/{reply['id']}/citation-clicks"

        # Preflight and response carry CORS for the key's origin, so the widget's report gets through.
        preflight = await client.options(
            url,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-visitor-token",
            },
        )
        assert preflight.status_code == 204 and preflight.headers["access-control-allow-origin"] == origin
        ok = await client.post(url, json={"chunk_id": chunk}, headers=headers)
        assert ok.status_code == 201, ok.text
        assert ok.headers["access-control-allow-origin"] == origin
        assert ok.json()["document_id"] == account["id"]

        # Another visitor of the same company, an unknown message, a passage the reply does not cite,
        # and no visitor token at all: each is a 404, and nothing is counted.
        foreign = await client.post(url, json={"chunk_id": chunk}, headers=stranger)
        unknown = await client.post(
            f"/v1/messages/{uuid.uuid4()}/citation-clicks", json={"chunk_id": chunk}, headers=headers
        )
        assert foreign.status_code == unknown.status_code == 404
        assert foreign.json()["code"] == unknown.json()["code"] == "not_found"
        tokenless = {k: v for k, v in headers.items() if k != "X-Visitor-Token"}
        assert (await client.post(url, json={"chunk_id": chunk}, headers=tokenless)).status_code == 404
        uncited = await client.post(url, json={"chunk_id": "not-cited"}, headers=headers)
        assert uncited.status_code == 404 and uncited.json()["code"] == "citation_not_found"
        # The same rule guards thumbs from the widget.
        thumbs = await client.post(f"/v1/messages/{reply['id']}/feedback", json={"rating": "down"}, headers=stranger)
        assert thumbs.status_code == 404

    # The company's own secret key may report too (a custom front end); the analytics route counts both.
    server = await company.client.post(url, json={"chunk_id": chunk})
    assert server.status_code == 201, server.text
    report = await quality_report(company)
    assert report["summary"]["citation_clicks"] == 2
    [row] = report["tables"]["citation_clicks"]
    assert row["document_id"] == account["id"] and row["clicks"] == 2 and row["document"] == account["title"]

    # The dashboard's quality page shows the count per document.
    at = AppTest.from_function(_page_script, args=("quality", api.url, company.key), default_timeout=60)
    await asyncio.to_thread(at.run)
    assert not at.exception, at.exception
    assert {m.label: m.value for m in at.metric}["Citation clicks"] == "2"
    assert "Citation clicks by document" in [h.value for h in at.subheader]
    [frame] = [d.value for d in at.dataframe if "clicks" in d.value.columns]
    assert frame.iloc[0]["document"] == account["title"] and int(frame.iloc[0]["clicks"]) == 2
    await company.client.aclose()
