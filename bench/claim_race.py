"""Claim race: N agents claim the same escalation at the same instant, over many trials.

Each trial escalates a fresh conversation through the API, releases N signed-in agents at once
on `POST /v1/escalations/{id}/claim`, and checks that exactly one got 200 and every other got
409 `already_claimed`, and that the stored claimant is the winner. Prints the tally and the
claim latencies (winner: claim recorded + agent assist prepared; losers: rejected by the
workflow's update validator).

    .venv/bin/python bench/claim_race.py                       # 200 trials, 20 agents, own stack
    .venv/bin/python bench/claim_race.py --trials 50 --agents 10
    .venv/bin/python bench/claim_race.py --url http://127.0.0.1:8000 --admin-token hd_admin_…

Without --url it starts the embedded stack (Temporal dev server, PostgreSQL, Redis) and the API
with its worker in this process, under a temporary data dir, and stops them on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PASSWORD = "bench-password-123"


@contextlib.asynccontextmanager
async def own_stack() -> AsyncIterator[tuple[str, str]]:
    import uvicorn

    from api.app import create_app
    from helpdeck.embedded import free_port
    from helpdeck.settings import Settings
    from helpdeck.stack import EmbeddedStack

    token = "hd_admin_bench"
    with tempfile.TemporaryDirectory(prefix="claim-race-") as data_dir:
        settings = Settings(
            _env_file=None,
            data_dir=Path(data_dir),
            port=free_port(),
            temporal_port=free_port(),
            temporal_ui_port=free_port(),
            redis_port=free_port(),
            admin_token=token,
            log_json=False,
            log_level="WARNING",
        )
        stack = EmbeddedStack(settings)
        resolved = stack.start(temporal_ui=False)
        try:
            app = create_app(resolved, run_worker=True)
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=resolved.port, log_config=None))
            task = asyncio.create_task(server.serve())
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
                await asyncio.sleep(0.05)
            try:
                yield f"http://127.0.0.1:{resolved.port}", token
            finally:
                server.should_exit = True
                await task
        finally:
            stack.stop()


async def setup(url: str, admin_token: str, agents: int) -> tuple[httpx.AsyncClient, list[httpx.AsyncClient]]:
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}) as admin:
        company = (await admin.post("/v1/companies", json={"name": "Claim race", "tier": "enterprise"})).json()
    company_client = httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {company['api_key']}"}, timeout=60
    )
    clients = []
    for n in range(agents):
        email = f"agent{n}-{uuid.uuid4().hex[:8]}@bench.example"
        created = await company_client.post(
            "/v1/users", json={"email": email, "name": f"Agent {n}", "role": "agent", "password": PASSWORD}
        )
        created.raise_for_status()
        login = await company_client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
        token = login.json()["token"]
        limits = httpx.Limits(max_connections=2)
        clients.append(
            httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60, limits=limits)
        )
    return company_client, clients


async def trial(
    company: httpx.AsyncClient, agents: list[httpx.AsyncClient]
) -> tuple[bool, Counter, list[float], list[float]]:
    conversation = (await company.post("/v1/conversations", json={"user_id": f"c-{uuid.uuid4().hex[:8]}"})).json()["id"]
    escalation = (await company.post(f"/v1/conversations/{conversation}/escalate")).json()["id"]
    go = asyncio.Event()

    async def claim(client: httpx.AsyncClient) -> tuple[httpx.Response, float]:
        await go.wait()
        started = time.perf_counter()
        response = await client.post(f"/v1/escalations/{escalation}/claim")
        return response, (time.perf_counter() - started) * 1000

    tasks = [asyncio.create_task(claim(c)) for c in agents]
    await asyncio.sleep(0.02)
    go.set()
    results = await asyncio.gather(*tasks)
    codes = Counter(r.json().get("code", "ok") if r.status_code != 200 else "ok" for r, _ in results)
    winners = [(r, ms) for r, ms in results if r.status_code == 200]
    stored = (await company.get(f"/v1/escalations/{escalation}")).json()["claimed_by"]
    ok = (
        len(winners) == 1
        and codes["already_claimed"] == len(agents) - 1
        and winners[0][0].json()["claimed_by"] == stored
    )
    return ok, codes, [ms for _, ms in winners], [ms for r, ms in results if r.status_code != 200]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run(args: argparse.Namespace) -> int:
    stack = own_stack() if not args.url else contextlib.nullcontext((args.url, args.admin_token))
    async with stack as (url, admin_token):  # type: ignore[union-attr]
        company, agents = await setup(url, admin_token, args.agents)
        good, codes, win_ms, lose_ms = 0, Counter(), [], []
        started = time.perf_counter()
        for n in range(args.trials):
            ok, trial_codes, w, lo = await trial(company, agents)
            good += ok
            codes += trial_codes
            win_ms += w
            lose_ms += lo
            if not ok:
                print(f"trial {n}: NOT exactly one winner: {dict(trial_codes)}")
        elapsed = time.perf_counter() - started
        for client in [company, *agents]:
            await client.aclose()
    print(f"trials {args.trials}, agents {args.agents}: exactly one winner in {good}/{args.trials}")
    print(f"responses: {dict(codes)}")
    print(f"winner claim ms p50 {statistics.median(win_ms):.0f} p95 {pct(win_ms, 0.95):.0f}")
    print(f"loser (409) ms p50 {statistics.median(lose_ms):.0f} p95 {pct(lose_ms, 0.95):.0f}")
    print(f"wall time {elapsed:.1f} s ({elapsed / args.trials:.2f} s per trial)")
    return 0 if good == args.trials else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--url", default="")
    parser.add_argument("--admin-token", default="")
    code = asyncio.run(run(parser.parse_args()))
    sys.stdout.flush()
    import os

    os._exit(code)  # see DESIGN §6: short scripts can abort at exit otherwise


if __name__ == "__main__":
    main()
