"""Dashboard page load with one company holding 1M messages (issue 6: under 2 seconds).

Starts an embedded PostgreSQL under a temp dir, migrates, bulk-inserts a month of data with
generate_series (bench/analytics_seed.py), rebuilds the roll-ups, then times every analytics
route through the real FastAPI app (uvicorn on loopback) and a full render of each dashboard
page with Streamlit's AppTest. Prints one line per figure.

    .venv/bin/python bench/dashboard_load.py [--messages 1000000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
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


class _ReadOnlyRuntime:
    """What the analytics reads need from a runtime: the database and the settings."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings, self.db = settings, db


async def main(messages: int, repeat: int) -> None:
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

            from streamlit.testing.v1 import AppTest

            for page in PAGES:
                times = []
                for _ in range(repeat):
                    at = AppTest.from_function(_page_script, args=(page, base, key), default_timeout=60)
                    t0 = time.perf_counter()
                    await asyncio.to_thread(at.run)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert not at.exception, at.exception
                print(
                    f"page render {page} (AppTest, API call included): "
                    f"median {statistics.median(times):.0f} ms, max {max(times):.0f} ms"
                )
            server.should_exit = True
            thread.join(timeout=10)
            await db.dispose()
        finally:
            postgres.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.repeat))
