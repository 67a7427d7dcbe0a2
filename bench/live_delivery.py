"""Live delivery: time from an agent's reply (the API call) to its appearance on N connected
server-sent-events clients of `GET /v1/conversations/{id}/live`.

One conversation is escalated and claimed by a signed-in agent; N clients hold the live stream
open (the company's secret key: widget visitor tokens are rate limited per visitor, so 100 tabs
of one visitor would be throttled). For each of R replies the clock starts just before
`POST /v1/escalations/{id}/messages` and stops when each client has parsed the event; p50/p95
are over all R × N (reply, client) pairs. Then every client reconnects with its Last-Event-ID
after replies sent while it was away, and the bench checks none was missed.

    .venv/bin/python bench/live_delivery.py                 # 100 clients, 30 replies, own stack
    .venv/bin/python bench/live_delivery.py --clients 20 --replies 10
    .venv/bin/python bench/live_delivery.py --url http://127.0.0.1:8000 --admin-token hd_admin_…
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.claim_race import PASSWORD, own_stack, pct  # noqa: E402


class LiveClient:
    def __init__(self, url: str, key: str, conversation: str) -> None:
        self.http = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=None)
        self.path = f"/v1/conversations/{conversation}/live"
        self.seen: dict[str, float] = {}  # message content -> perf_counter when parsed
        self.last_id: str | None = None
        self.ready = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        headers = {"Last-Event-ID": self.last_id} if self.last_id else {}
        async with self.http.stream("GET", self.path, headers=headers) as response:
            response.raise_for_status()
            self.ready.set()
            event: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    event["id"] = line[4:]
                elif line.startswith("data: "):
                    event["data"] = line[6:]
                elif not line and "data" in event:
                    body = json.loads(event["data"])
                    self.last_id = event.get("id", self.last_id)
                    message = body.get("message") or {}
                    if message.get("role") == "agent":
                        self.seen[message["content"]] = time.perf_counter()
                    event = {}

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task


async def run(args: argparse.Namespace) -> int:
    stack = own_stack() if not args.url else contextlib.nullcontext((args.url, args.admin_token))
    async with stack as (url, admin_token):  # type: ignore[union-attr]
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {admin_token}"}) as admin:
            company = (await admin.post("/v1/companies", json={"name": "Live bench", "tier": "enterprise"})).json()
        key = company["api_key"]
        api = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        email = f"live-{uuid.uuid4().hex[:8]}@bench.example"
        role = {"email": email, "name": "Bench Agent", "role": "agent", "password": PASSWORD}
        (await api.post("/v1/users", json=role)).raise_for_status()
        token = (await api.post("/v1/auth/login", json={"email": email, "password": PASSWORD})).json()["token"]
        agent = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        conversation = (await api.post("/v1/conversations", json={"user_id": "live-bench"})).json()["id"]
        escalation = (await api.post(f"/v1/conversations/{conversation}/escalate")).json()["id"]
        (await agent.post(f"/v1/escalations/{escalation}/claim")).raise_for_status()

        clients = [LiveClient(url, key, conversation) for _ in range(args.clients)]
        for client in clients:
            client.start()
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in clients)), 60)
        await asyncio.sleep(0.5)

        latencies: list[float] = []
        api_ms: list[float] = []
        missing = 0
        for n in range(args.replies):
            content = f"reply {n} {uuid.uuid4().hex[:6]}"
            started = time.perf_counter()
            (await agent.post(f"/v1/escalations/{escalation}/messages", json={"content": content})).raise_for_status()
            api_ms.append((time.perf_counter() - started) * 1000)
            deadline = time.perf_counter() + 10
            while time.perf_counter() < deadline and not all(content in c.seen for c in clients):  # noqa: ASYNC110
                await asyncio.sleep(0.005)
            for client in clients:
                if content in client.seen:
                    latencies.append((client.seen[content] - started) * 1000)
                else:
                    missing += 1
            await asyncio.sleep(0.2)

        # Resume: everyone disconnects, three replies are sent, everyone reconnects.
        for client in clients:
            await client.stop()
        away = [f"while away {n} {uuid.uuid4().hex[:6]}" for n in range(3)]
        for content in away:
            (await agent.post(f"/v1/escalations/{escalation}/messages", json={"content": content})).raise_for_status()
        for client in clients:
            client.start()
        deadline = time.perf_counter() + 20
        while time.perf_counter() < deadline and not all(all(a in c.seen for a in away) for c in clients):  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        resumed = sum(all(a in c.seen for a in away) for c in clients)
        for client in clients:
            await client.stop()
            await client.http.aclose()
        await api.aclose()
        await agent.aclose()

    pairs = args.replies * args.clients
    print(f"clients {args.clients}, replies {args.replies}: delivered {len(latencies)}/{pairs}, missing {missing}")
    print(f"reply API call ms p50 {statistics.median(api_ms):.0f} p95 {pct(api_ms, 0.95):.0f}")
    print(
        f"API call -> on client ms p50 {statistics.median(latencies):.0f} p95 {pct(latencies, 0.95):.0f} "
        f"max {max(latencies):.0f}"
    )
    print(f"resumed with Last-Event-ID and got all 3 missed replies: {resumed}/{args.clients}")
    return 0 if missing == 0 and resumed == args.clients else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--replies", type=int, default=30)
    parser.add_argument("--url", default="")
    parser.add_argument("--admin-token", default="")
    code = asyncio.run(run(parser.parse_args()))
    sys.stdout.flush()
    import os

    os._exit(code)  # as in bench/claim_race.py


if __name__ == "__main__":
    main()
