"""The agent console page (Streamlit AppTest) against the real API: the queue with wait time and
SLA state, claim, read, reply, release, resolve; an analyst reads only; another company's agent
sees nothing of this one's queue."""

from __future__ import annotations

import asyncio
from pathlib import Path

from streamlit.testing.v1 import AppTest

from tests.conftest import Api, Tenant, new_conversation
from tests.escalations.support import escalate, make_agent

ROOT = Path(__file__).resolve().parents[2]


def _console_script(url: str, token: str) -> None:
    import streamlit as st

    from dashboard.client import AnalyticsClient
    from dashboard.views.console import console

    st.session_state["client"] = AnalyticsClient(url, token)
    console()


async def _run(at: AppTest) -> AppTest:
    await asyncio.to_thread(at.run)  # AppTest blocks; the API answers on this loop meanwhile
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    found = [b for b in at.button if b.label == label]
    assert found, f"no {label!r} button among {[b.label for b in at.button]}"
    return found[0]


async def test_agent_claims_replies_releases_and_resolves(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    conversation = await new_conversation(tenant, "console-visitor")
    await tenant.client.post(f"/v1/conversations/{conversation}/messages", json={"content": "my parcel is lost"})
    escalation = await escalate(tenant, conversation, reason="parcel lost", category="complaint")
    agent = await make_agent(api, tenant, name="Ada Agent")
    at = await _run(AppTest.from_function(_console_script, args=(api.url, agent.token), default_timeout=60))
    assert at.title[0].value == "Agent console"
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Waiting"] == "1"
    assert at.dataframe, "the queue table"
    assert "parcel is lost" in " ".join(m.markdown[0].value for m in at.chat_message if m.markdown)
    assert "SLA" in at.caption[0].value and "waiting" in at.caption[0].value

    _button(at, "Claim").click()
    at = await _run(at)
    assert at.success[0].value == "Claimed"
    at.text_area[0].set_value("Sorry about that — I am looking into it now.")
    [b for b in at.button if b.label == "Send reply"][0].click()
    at = await _run(at)
    assert at.success[0].value == "Reply sent", [e.value for e in at.error]
    messages = (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
    assert messages[-1]["role"] == "agent" and "looking into it" in messages[-1]["content"]

    _button(at, "Release").click()
    at = await _run(at)
    assert at.success[0].value == "Released"
    state = (await tenant.client.get(f"/v1/escalations/{escalation['id']}")).json()
    assert state["status"] == "waiting"

    _button(at, "Claim").click()
    at = await _run(at)
    at.checkbox[0].check()
    _button(at, "Resolve").click()
    at = await _run(at)
    assert at.success[0].value == "Resolved"
    state = (await tenant.client.get(f"/v1/escalations/{escalation['id']}")).json()
    assert state["status"] == "resolved" and state["handed_back_to_bot"] is True

    stranger = await make_agent(api, other_tenant)
    theirs = await _run(AppTest.from_function(_console_script, args=(api.url, stranger.token), default_timeout=60))
    assert any("queue is empty" in i.value for i in theirs.info)
    for client in (agent.client, stranger.client):
        await client.aclose()


async def test_analyst_reads_but_cannot_act(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant, "console-analyst")
    await escalate(tenant, conversation, reason="needs a person")
    analyst = await make_agent(api, tenant, role="analyst")
    at = await _run(AppTest.from_function(_console_script, args=(api.url, analyst.token), default_timeout=60))
    assert {m.label: m.value for m in at.metric}["Waiting"] == "1"
    assert any("Read-only" in i.value for i in at.info)
    assert not [b for b in at.button if b.label in {"Claim", "Send reply", "Release", "Resolve"}]
    await analyst.client.aclose()


async def test_console_in_chromium_updates_live_and_replies(api: Api, tenant: Tenant) -> None:
    import os
    import subprocess
    import sys

    from playwright.async_api import async_playwright, expect

    from helpdeck.embedded import free_port
    from tests.dashboard.test_dashboard import _wait_for_port
    from tests.escalations.support import PASSWORD

    root = ROOT
    agent = await make_agent(api, tenant, name="Ada Agent")
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, then only polled
        [sys.executable, "-m", "streamlit", "run", str(root / "dashboard" / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        env={**os.environ, "HELPDECK_API_URL": api.url},
        cwd=root,
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
            try:
                page = await browser.new_page(viewport={"width": 1400, "height": 1000})
                await page.goto(f"http://127.0.0.1:{port}/")
                await page.get_by_label("Email").fill(agent.email)
                await page.get_by_label("Password", exact=True).fill(PASSWORD)
                await page.get_by_role("button", name="Sign in").click()
                await page.get_by_role("link", name="Agent console").click()
                await page.get_by_text("The queue is empty.").wait_for(timeout=30000)
                # A customer escalates while the console is open: it appears without a reload.
                conversation = await new_conversation(tenant, "console-browser")
                question = {"content": "Where is my order 1234?"}
                await tenant.client.post(f"/v1/conversations/{conversation}/messages", json=question)
                await escalate(tenant, conversation, reason="customer asked for a person")
                await page.get_by_role("button", name="Claim").wait_for(timeout=30000)
                await page.get_by_role("button", name="Claim").click()
                await page.get_by_role("button", name="Send reply").wait_for(timeout=30000)
                await page.get_by_label("Reply").fill("Hi, this is Ada. Your order ships today.")
                await page.get_by_role("button", name="Send reply").click()
                await expect(page.get_by_text("Reply sent")).to_be_visible(timeout=30000)
                await page.wait_for_timeout(1000)
                await page.screenshot(path=str(root / "docs" / "console.png"), full_page=True)
            finally:
                await browser.close()
        messages = (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
        assert messages[-1]["role"] == "agent" and "ships today" in messages[-1]["content"]
    finally:
        process.terminate()
        process.wait(timeout=20)
        await agent.client.aclose()
