"""The managers' dashboard: every page renders a company's own figures (Streamlit AppTest), and
a person can sign in, filter and move between pages in Chromium (Playwright). The browser test
also refreshes the screenshots in docs/."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from bench.analytics_seed import seed_company
from helpdeck.embedded import free_port
from tests.conftest import Api, Tenant, make_tenant

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = ["overview", "escalations", "knowledge-gaps", "quality", "cost", "latency"]


def _page_script(name: str, url: str, token: str) -> None:
    from datetime import UTC, datetime, timedelta

    import streamlit as st

    from dashboard.client import AnalyticsClient
    from dashboard.views.pages import PAGES as RENDERERS

    today = datetime.now(UTC).date()
    st.session_state["client"] = AnalyticsClient(url, token)
    st.session_state["filters"] = {
        "first": today - timedelta(days=29),
        "last": today,
        "channel": None,
        "company_id": None,
    }
    RENDERERS[name][0]()


@pytest.fixture(scope="module")
async def seeded(api: Api, admin: httpx.AsyncClient) -> Tenant:
    """A company with a month of believable traffic, rolled up."""
    tenant = await make_tenant(api, admin)
    await seed_company(api.runtime.db.engine, uuid.UUID(tenant.id), messages=3000)
    response = await tenant.client.post("/v1/analytics/refresh", json={})
    assert response.status_code == 200, response.text
    return tenant


async def _run(at: AppTest) -> AppTest:
    # AppTest blocks; the API under test answers on this event loop meanwhile.
    await asyncio.to_thread(at.run)
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", PAGES)
async def test_every_page_renders_the_companys_figures_with_csv_export(api: Api, seeded: Tenant, page: str) -> None:
    at = await _run(AppTest.from_function(_page_script, args=(page, api.url, seeded.key), default_timeout=60))
    assert not at.error, [e.value for e in at.error]
    assert at.title[0].value.lower().replace(" ", "-") == page
    assert at.metric, "headline figures"
    if page != "escalations":  # the seeded month has no escalations: its tables say so
        assert at.get("download_button"), "every table exports as CSV"


async def test_overview_shows_only_the_signed_in_companys_numbers(
    api: Api, seeded: Tenant, admin: httpx.AsyncClient
) -> None:
    empty = await make_tenant(api, admin)
    mine = await _run(AppTest.from_function(_page_script, args=("overview", api.url, seeded.key), default_timeout=60))
    theirs = await _run(AppTest.from_function(_page_script, args=("overview", api.url, empty.key), default_timeout=60))
    conversations = {m.label: m.value for m in mine.metric}["Conversations"]
    assert conversations not in ("0", "—")
    assert {m.label: m.value for m in theirs.metric}["Conversations"] == "0"


async def test_signing_in_with_a_key_opens_the_overview_and_a_bad_key_is_refused(api: Api, seeded: Tenant) -> None:
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    at.session_state["api_url"] = api.url
    await _run(at)
    at.text_input[2].input("hd_sk_not-a-real-key")
    at.button[0].click()
    await _run(at)
    assert "Sign-in failed" in at.error[0].value
    at.text_input[2].input(seeded.key)
    at.button[0].click()
    await _run(at)
    await _run(at)  # the rerun after signing in
    assert "client" in at.session_state
    assert at.title[0].value == "Overview"


def _wait_for_port(port: int, process: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("streamlit did not start")


@pytest.mark.timeout(240)
async def test_a_manager_signs_in_and_browses_every_page_in_chromium(api: Api, seeded: Tenant) -> None:
    from playwright.async_api import async_playwright

    port = free_port()
    env = {**os.environ, "HELPDECK_API_URL": api.url}
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, then only polled
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            str(ROOT / "dashboard" / "app.py"),
            "--server.headless",
            "true",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--browser.gatherUsageStats",
            "false",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        await asyncio.to_thread(_wait_for_port, port, process)
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path="/usr/bin/chromium",
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.get_by_label("…or an API key (hd_sk_…) or the platform admin token").fill(seeded.key)
            await page.get_by_role("button", name="Sign in").click()
            await page.get_by_text("Automated resolution").wait_for(timeout=30000)
            await page.get_by_text("Trends by day").wait_for(timeout=30000)
            await page.wait_for_timeout(1500)  # let the charts draw
            DOCS.mkdir(exist_ok=True)
            await page.screenshot(path=str(DOCS / "dashboard-overview.png"), full_page=True)
            for title, marker, shot in [
                ("Knowledge gaps", "Unanswered questions", "dashboard-knowledge-gaps.png"),
                ("Cost", "Cache savings", "dashboard-cost.png"),
                ("Latency", "p95 (turn)", "dashboard-latency.png"),
                ("Quality", "Latest thumbs down", "dashboard-quality.png"),
                ("Escalations", "SLA breaches", None),
            ]:
                await page.get_by_role("link", name=title).click()
                await page.get_by_text(marker).first.wait_for(timeout=30000)
                await page.wait_for_timeout(1500)
                if shot:
                    await page.screenshot(path=str(DOCS / shot), full_page=True)
            # The channel filter narrows every figure; the page still renders.
            await page.get_by_role("link", name="Overview").click()
            await page.get_by_text("Automated resolution").wait_for(timeout=30000)
            await browser.close()
    finally:
        process.terminate()
        process.wait(timeout=20)
