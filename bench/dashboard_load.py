"""Dashboard page load with one company holding 1M messages (issue 6: under 2 seconds).

Starts an embedded PostgreSQL under a temp dir, migrates, bulk-inserts a month of data with
generate_series (bench/analytics_seed.py), rebuilds the roll-ups, then times every analytics
route through the real FastAPI app (uvicorn on loopback), each dashboard page's script with
Streamlit's AppTest (cold: the report fetched; warm: the minute's cached report), and, when
Chromium is there, a real page load: `streamlit run dashboard/app.py`, sign in, click each
page in the sidebar, stop the clock when the page is drawn (title, no stale element, charts
painted). Prints one line per figure, and the load average before and after.

    .venv/bin/python bench/dashboard_load.py [--messages 1000000] [--repeat 5] [--no-browser]

AppTest's own `run()` scans every installed distribution for Streamlit components (about
0.3 s here, more under load) before the script starts; a real server does that once at start,
so the page figures below are the script's time, and AppTest's total is printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.analytics_seed import seed_company  # noqa: E402
from helpdeck.analytics.rollups import refresh_rollups  # noqa: E402
from helpdeck.db import Database, migrate  # noqa: E402
from helpdeck.embedded import EmbeddedPostgres, free_port  # noqa: E402
from helpdeck.services import tenancy  # noqa: E402
from helpdeck.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["overview", "escalations", "knowledge-gaps", "quality", "cost", "latency"]
CHROMIUM = "/usr/bin/chromium"


def _load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _page_script(name: str, url: str, token: str) -> None:
    import time
    from datetime import UTC, datetime, timedelta

    import streamlit as st

    started = time.perf_counter()

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
    st.session_state["script_ms"] = (time.perf_counter() - started) * 1000


def _median_max(times: list[float]) -> str:
    return f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms"


def apptest_pages(base: str, key: str, repeat: int) -> None:
    from streamlit.testing.v1 import AppTest

    from dashboard.views.pages import forget_reports

    for page in PAGES:
        cold: list[float] = []
        warm: list[float] = []
        totals: list[float] = []
        for _ in range(repeat):
            for fresh in (True, False):
                if fresh:
                    forget_reports()
                at = AppTest.from_function(_page_script, args=(page, base, key), default_timeout=60)
                t0 = time.perf_counter()
                at.run()
                totals.append((time.perf_counter() - t0) * 1000)
                assert not at.exception, at.exception
                (cold if fresh else warm).append(at.session_state["script_ms"])
        print(
            f"page script {page} (AppTest): cold {_median_max(cold)}; warm {_median_max(warm)}; "
            f"AppTest run() total {_median_max(totals)}"
        )


def _wait_for_streamlit(port: int, process: subprocess.Popen) -> None:
    for _ in range(600):
        assert process.poll() is None, "streamlit exited"
        try:
            if httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("streamlit did not start")


# Drawn: the page's title, nothing left over from the page before, every chart painted.
_DRAWN = """([title, charts]) => {
  const h1 = document.querySelector('h1');
  if (!h1 || h1.innerText.trim() !== title) return false;
  if (document.querySelector('[data-stale="true"]')) return false;
  const status = document.querySelector('[data-testid="stStatusWidget"]');
  if (status && status.innerText.includes('Running')) return false;
  const painted = document.querySelectorAll(
    '[data-testid="stVegaLiteChart"] canvas, [data-testid="stVegaLiteChart"] svg.marks');
  return painted.length >= charts;
}"""


async def browser_pages(base: str, key: str, repeat: int) -> None:
    """Real page loads in Chromium against `streamlit run dashboard/app.py`: the first visit to
    a page fetches its report (cold), later visits within the minute reuse it (warm)."""
    from playwright.async_api import async_playwright

    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, then only polled
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "dashboard" / "app.py"), "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        env={**os.environ, "HELPDECK_API_URL": base}, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        await asyncio.to_thread(_wait_for_streamlit, port, process)
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
            )
            page = await browser.new_page(viewport={"width": 1400, "height": 1000})
            t0 = time.perf_counter()
            await page.goto(f"http://127.0.0.1:{port}/")
            await page.get_by_label("…or an API key (hd_sk_…) or the platform admin token").wait_for()
            print(f"browser: sign-in page drawn in {(time.perf_counter() - t0) * 1000:.0f} ms (new session)")
            await page.get_by_label("…or an API key (hd_sk_…) or the platform admin token").fill(key)
            t0 = time.perf_counter()
            await page.get_by_role("button", name="Sign in").click()
            await page.wait_for_function(_DRAWN, arg=["Overview", 1], timeout=60000)
            print(f"browser: sign in to overview drawn in {(time.perf_counter() - t0) * 1000:.0f} ms")
            # Titles and how many charts each page draws with this seed (no escalations in it).
            order = [("Escalations", 0), ("Knowledge gaps", 1), ("Quality", 0), ("Cost", 1), ("Latency", 1),
                     ("Overview", 1)]
            loads: dict[str, list[float]] = {title: [] for title, _ in order}
            for _ in range(repeat):
                for title, charts in order:
                    t0 = time.perf_counter()
                    await page.get_by_role("link", name=title).click()
                    await page.wait_for_function(_DRAWN, arg=[title, charts], timeout=60000)
                    loads[title].append((time.perf_counter() - t0) * 1000)
            await browser.close()
        for title, times in loads.items():
            later = f"; later visits {_median_max(times[1:])}" if len(times) > 1 else ""
            print(f"browser page load {title}: first visit {times[0]:.0f} ms{later}")
    finally:
        process.terminate()
        process.wait(timeout=20)


class _ReadOnlyRuntime:
    """What the analytics reads need from a runtime: the database and the settings."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db


async def main(messages: int, repeat: int, browser: bool) -> None:
    print(f"load average at start: {_load_average()}")
    with tempfile.TemporaryDirectory(prefix="hd-bench-") as tmp:
        postgres = EmbeddedPostgres(Path(tmp) / "pg")
        url = postgres.start()
        try:
            await asyncio.to_thread(migrate, url)
            db = Database(url)
            async with db.session() as session:
                company, key = await tenancy.create_company(session, "Big Co", "enterprise")
            started = time.perf_counter()
            made = await seed_company(db.engine, company.id, messages)
            print(
                f"seed: {made['messages']:,} messages, {made['conversations']:,} conversations "
                f"in {time.perf_counter() - started:.1f} s"
            )
            async with db.engine.begin() as conn:
                from sqlalchemy import text

                for table in ("conversations", "messages", "turn_facts", "message_feedback", "conversation_csat"):
                    await conn.execute(text(f"ANALYZE {table}"))
            from datetime import UTC, datetime, timedelta

            today = datetime.now(UTC).date()
            started = time.perf_counter()
            async with db.session() as session:
                rows = await refresh_rollups(session, company.id, today - timedelta(days=31), today)
            print(f"roll-up refresh (32 days, one company): {time.perf_counter() - started:.1f} s, rows {rows}")
            started = time.perf_counter()
            async with db.session() as session:
                await refresh_rollups(session, None, today - timedelta(days=1), today)
            print(f"scheduled refresh (last 2 days, all companies): {time.perf_counter() - started:.2f} s")

            settings = Settings(_env_file=None, database_url=url, admin_token="bench-admin")
            from api.app import create_app

            app = create_app(settings)
            app.state.runtime = _ReadOnlyRuntime(settings, db)
            port = free_port()
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
                await asyncio.sleep(0.05)
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as client:
                for page in PAGES:
                    times = []
                    for _ in range(repeat):
                        t0 = time.perf_counter()
                        response = await client.get(f"/v1/analytics/{page}")
                        times.append((time.perf_counter() - t0) * 1000)
                        assert response.status_code == 200, response.text
                    print(
                        f"GET /v1/analytics/{page}: median {statistics.median(times):.0f} ms, max {max(times):.0f} ms"
                    )
                overview = (await client.get("/v1/analytics/overview")).json()["summary"]
                print(f"overview figures: {overview}")

            await asyncio.to_thread(apptest_pages, base, key, repeat)
            print(f"load average after AppTest: {_load_average()}")
            if browser and shutil.which(CHROMIUM):
                await browser_pages(base, key, repeat)
                print(f"load average after the browser: {_load_average()}")
            server.should_exit = True
            thread.join(timeout=10)
            await db.dispose()
        finally:
            postgres.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-browser", action="store_true", help="skip the Chromium page loads")
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.repeat, not args.no_browser))
