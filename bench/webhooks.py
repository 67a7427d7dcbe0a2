"""Webhook throughput and lag: N events to M endpoints (some down for the first minute), all
delivered, time to drain, deliveries/s, and the extra load on Temporal.

It starts the embedded stack (Temporal dev server, PostgreSQL, Redis) under a temporary data
dir, runs the product's worker in this process (as `helpdeck up` does), and serves the M
receivers from a child process (aiohttp on 127.0.0.1, so the HTTP side does not share this
process's CPU). Events are written the way producers write them (`add_event`, committed in
batches) across C conversations; the outbox trigger, the relay and one
`WebhookDeliveryWorkflow` per (event, endpoint) do the rest. It checks at the receivers that
every webhook-id arrived exactly once per endpoint and in order per conversation.

    .venv/bin/python bench/webhooks.py                                  # 500 events × 20 endpoints
    .venv/bin/python bench/webhooks.py --events 10000 --endpoints 20    # the issue's figure (hours here)
    .venv/bin/python bench/webhooks.py --workers 1                      # plus one `python worker.py`

Everything it starts is stopped on exit. See bench/README.md ("Webhooks") for figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

import httpx
from temporalio import activity, workflow
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
from turn_overhead import _cpu_s, _processes  # noqa: E402 (CPU by process, from /proc)

# --- the receivers (child process) ------------------------------------------------------------


def serve_receivers(ports: list[int], down: set[int], down_for_s: float, control_port: int) -> None:
    """M customer endpoints; the `down` ones answer 503 for the first `down_for_s` seconds."""
    from aiohttp import web

    started = time.monotonic()
    stats: dict[int, dict] = {p: {"requests": 0, "accepted": 0, "ids": set(), "dups": 0, "order_violations": 0,
                                  "last_seq": {}} for p in ports}

    def handler(port: int):  # type: ignore[no-untyped-def]
        async def receive(request: web.Request) -> web.Response:
            body = await request.read()
            entry = stats[port]
            entry["requests"] += 1
            if port in down and time.monotonic() - started < down_for_s:
                return web.Response(status=503)
            webhook_id = request.headers["webhook-id"]
            if webhook_id in entry["ids"]:
                entry["dups"] += 1
            else:
                entry["ids"].add(webhook_id)
                data = json.loads(body)["data"]
                conversation, seq = data["conversation_id"], data["seq"]
                if entry["last_seq"].get(conversation, 0) > seq:
                    entry["order_violations"] += 1
                entry["last_seq"][conversation] = seq
            entry["accepted"] += 1
            return web.Response(status=204)

        return receive

    async def report(_: web.Request) -> web.Response:
        return web.json_response(
            {
                str(p): {k: (len(v) if k == "ids" else v) for k, v in s.items() if k != "last_seq"}
                for p, s in stats.items()
            }
        )

    async def main() -> None:
        runners = []
        for port in ports:
            app = web.Application()
            app.router.add_post("/hook", handler(port))
            runners.append(web.AppRunner(app, access_log=None))
        control = web.Application()
        control.router.add_get("/stats", report)
        runners.append(web.AppRunner(control, access_log=None))
        for runner, port in zip(runners, [*ports, control_port], strict=True):
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", port).start()
        print("ready", flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# --- the baseline: a bare workflow with one no-op local activity, same server and process ------


@activity.defn
async def noop_attempt(step: int) -> int:
    return step


@workflow.defn
class BaselineWorkflow:
    @workflow.run
    async def run(self, step: int) -> int:
        return await workflow.execute_local_activity(noop_attempt, step, start_to_close_timeout=timedelta(seconds=10))


async def baseline(client, count: int, concurrency: int) -> float:  # type: ignore[no-untyped-def]
    """Bare workflows per second at the same concurrency, measured in this run."""
    queue = f"bench-baseline-{uuid.uuid4().hex[:6]}"
    async with Worker(
        client, task_queue=queue, workflows=[BaselineWorkflow], activities=[noop_attempt],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        gate = asyncio.Semaphore(concurrency)

        async def one(n: int) -> None:
            async with gate:
                await client.execute_workflow(
                    BaselineWorkflow.run, n, id=f"{queue}-{n}", task_queue=queue, request_eager_start=True
                )

        started = time.monotonic()
        await asyncio.gather(*(one(n) for n in range(count)))
        return count / (time.monotonic() - started)


# --- CPU by process: the extra load on Temporal (and the rest) per delivery --------------------


def cpu_groups(stack, receivers_pid: int, workers: list[subprocess.Popen]) -> dict[str, list[int]]:  # type: ignore[no-untyped-def]
    groups = {
        "bench process (worker, relay)": [os.getpid()],
        "temporal": [stack.temporal.process.pid],
        "receivers": [receivers_pid],
    }
    if workers:
        groups["worker.py processes"] = [w.pid for w in workers]
    procs = _processes()
    children: dict[int, list[int]] = {}
    for pid, ppid, _ in procs:
        children.setdefault(ppid, []).append(pid)
    for pid, _, cmdline in procs:
        if "postgres -D" in cmdline and str(stack.settings.data_dir) in cmdline:
            groups["postgres"] = [pid, *children.get(pid, [])]  # the postmaster and its backends
    return groups


def _reaped_cpu_s(pid: int) -> float:
    """CPU seconds of `pid`'s children that have exited (the postmaster's closed backends)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def cpu_snapshot(groups: dict[str, list[int]]) -> dict[int, float]:
    """CPU seconds by pid; the postmaster's include its backends that have exited."""
    return {pid: _cpu_s(pid) + (_reaped_cpu_s(pid) if name == "postgres" and n == 0 else 0.0)
            for name, pids in groups.items() for n, pid in enumerate(pids)}  # fmt: skip


def cpu_ms_per(groups: dict[str, list[int]], before: dict[int, float], units: int) -> dict[str, float]:
    """CPU milliseconds per unit of work, by group, since `before` (processes started since count whole)."""
    after = cpu_snapshot(groups)
    return {
        name: round(sum(after[pid] - before.get(pid, 0.0) for pid in pids) * 1000 / max(1, units), 1)
        for name, pids in groups.items()
    }



# --- the benchmark ----------------------------------------------------------------------------


async def run(  # noqa: PLR0915 (one scenario, top to bottom)
    args: argparse.Namespace, ports: list[int], down: set[int], control_port: int, receivers_pid: int
) -> dict:
    from sqlalchemy import func, text
    from sqlmodel import select

    from helpdeck.channels.crypto import SecretBox
    from helpdeck.embedded import free_port
    from helpdeck.runtime import open_runtime
    from helpdeck.services import tenancy, webhooks
    from helpdeck.services.events import add_event
    from helpdeck.services.webhook_runner import start_webhooks
    from helpdeck.settings import Settings
    from helpdeck.stack import EmbeddedStack
    from helpdeck.tables import WebhookDelivery
    from worker import build_worker

    data_dir = Path(tempfile.mkdtemp(prefix="hd-bench-webhooks-"))
    os.chmod(data_dir, 0o755)
    settings = Settings(
        _env_file=None, data_dir=data_dir, port=free_port(), temporal_port=free_port(), temporal_ui_port=free_port(),
        redis_port=free_port(), allow_private_urls=True, log_level="WARNING", log_json=False,
        task_queue="bench-webhooks",
    )
    stack = EmbeddedStack(settings)
    _STARTED.append(stack)
    figures: dict = {}
    receivers_stats = httpx.AsyncClient(base_url=f"http://127.0.0.1:{control_port}")
    try:
        resolved = stack.start(temporal_ui=False)
        runtime = await open_runtime(resolved)
        # Eager starts hand each new workflow to the starting process's worker: with more
        # worker processes, the relay's process would get every delivery.
        runtime.worker_in_process = not args.workers
        workers = [
            subprocess.Popen(  # noqa: ASYNC220 (before any load, like the receivers)
                [sys.executable, str(REPO / "worker.py")],
                env={
                    **os.environ, "TEMPORAL_ADDRESS": resolved.temporal_address,
                    "DATABASE_URL": resolved.database_url, "REDIS_URL": resolved.redis_url,
                    "HELPDECK_SECRET_KEY": resolved.secret_key, "HELPDECK_TASK_QUEUE": resolved.task_queue,
                    "HELPDECK_ALLOW_PRIVATE_URLS": "true", "HELPDECK_DATA_DIR": str(data_dir),
                    "HELPDECK_LOG_LEVEL": "WARNING", "HELPDECK_LOG_JSON": "false",
                },
            )
            for _ in range(args.workers)
        ]
        _STARTED.extend(workers)
        worker = build_worker(runtime.temporal, runtime)
        worker_task = asyncio.create_task(worker.run())
        await start_webhooks(runtime.temporal, resolved)
        baseline_per_s = await baseline(runtime.temporal, args.baseline, 100)
        async with runtime.db.session() as session:
            company, _ = await tenancy.create_company(session, "Bench Co", "enterprise")
        for port in ports:
            async with runtime.db.session() as session:
                await webhooks.create_endpoint(
                    session, SecretBox(resolved.secret_key), company.id, f"http://127.0.0.1:{port}/hook",
                    ["message.created"], "", allow_private=True,
                )
        conversations = [uuid.uuid4() for _ in range(args.conversations)]
        expected = args.events * args.endpoints

        groups = cpu_groups(stack, receivers_pid, workers)
        cpu_before = cpu_snapshot(groups)
        started = time.monotonic()
        seqs: dict[uuid.UUID, int] = defaultdict(int)
        for first in range(0, args.events, 200):
            async with runtime.db.session() as session:
                for n in range(first, min(first + 200, args.events)):
                    conversation = conversations[n % len(conversations)]
                    seqs[conversation] += 1
                    add_event(session, company.id, "message.created",
                              {"conversation_id": str(conversation), "seq": seqs[conversation], "content": "x" * 200},
                              conversation_id=conversation)
                await session.commit()
        written_s = time.monotonic() - started

        healthy_done_s = None
        delivered = 0
        while time.monotonic() - started < args.timeout:
            await asyncio.sleep(1)
            async with runtime.db.session() as session:
                delivered = (await session.exec(
                    select(func.count()).select_from(WebhookDelivery).where(WebhookDelivery.status == "delivered")
                )).one()
            stats = (await receivers_stats.get("/stats")).json()
            healthy = sum(s["accepted"] for p, s in stats.items() if int(p) not in down)
            if healthy_done_s is None and healthy >= args.events * (args.endpoints - args.down):
                healthy_done_s = time.monotonic() - started
            print(f"  {time.monotonic() - started:6.0f}s delivered {delivered}/{expected}", flush=True)
            if delivered >= expected:
                break
        drained_s = time.monotonic() - started
        groups = cpu_groups(stack, receivers_pid, workers)  # the database's backends of the whole run
        cpu_per_delivery = cpu_ms_per(groups, cpu_before, delivered)
        stats = (await receivers_stats.get("/stats")).json()

        # The extra load on Temporal: workflows per event and history events per workflow (sampled).
        async with runtime.db.session() as session:
            rows = (await session.exec(text(
                # Delivered ones only: a run stopped by --timeout has deliveries not started yet.
                "SELECT endpoint_id, event_id, attempts FROM webhook_deliveries WHERE status = 'delivered' "
                "ORDER BY random() LIMIT 40"
            ))).all()
        history_events, workflow_tasks = [], []
        for endpoint_id, event_id, _attempts in rows:
            history = await runtime.temporal.get_workflow_handle(
                f"webhook-delivery-{endpoint_id}-{event_id}").fetch_history()
            history_events.append(len(history.events))
            workflow_tasks.append(sum(1 for e in history.events if e.event_type == 5))  # WORKFLOW_TASK_SCHEDULED
        if os.environ.get("BENCH_DUMP_HISTORY"):
            async with runtime.db.session() as session:
                endpoint_id, event_id = (await session.exec(text(
                    "SELECT endpoint_id, event_id FROM webhook_deliveries ORDER BY delivered_at DESC LIMIT 1"
                ))).one()
            history = await runtime.temporal.get_workflow_handle(
                f"webhook-delivery-{endpoint_id}-{event_id}").fetch_history()
            for e in history.events:
                print(e.event_time.ToDatetime().time(), e.event_type, file=sys.stderr)
        figures = {
            "events": args.events,
            "endpoints": args.endpoints,
            "down_endpoints": args.down,
            "conversations": args.conversations,
            "expected_deliveries": expected,
            "delivered": delivered,
            "all_delivered": delivered >= expected,
            "accepted_at_receivers": sum(s["accepted"] for s in stats.values()),
            "unique_webhook_ids_at_receivers": sum(s["ids"] for s in stats.values()),
            "duplicates": sum(s["dups"] for s in stats.values()),
            "order_violations": sum(s["order_violations"] for s in stats.values()),
            "failed_requests_to_down_endpoints": sum(s["requests"] - s["accepted"] for s in stats.values()),
            "events_written_s": round(written_s, 1),
            "healthy_endpoints_drained_s": round(healthy_done_s, 1) if healthy_done_s else None,
            "healthy_deliveries_per_s": round(args.events * (args.endpoints - args.down) / healthy_done_s, 1)
            if healthy_done_s else None,
            "all_drained_s": round(drained_s, 1),
            "deliveries_per_s_overall": round(delivered / drained_s, 1),
            "load_average_1m_at_end": round(os.getloadavg()[0], 1),
            "baseline_bare_workflows_per_s": round(baseline_per_s, 1),
            "worker_processes": 1 + args.workers,
            "cpu_ms_per_delivery": cpu_per_delivery,
            "temporal_workflows_per_event": args.endpoints,
            "history_events_per_delivery_workflow_avg": round(sum(history_events) / max(1, len(history_events)), 1),
            "workflow_tasks_per_delivery_workflow_avg": round(sum(workflow_tasks) / max(1, len(workflow_tasks)), 2),
        }
        for extra in workers:
            extra.terminate()
        await worker.shutdown()
        worker_task.cancel()
        await runtime.close()
    finally:
        await receivers_stats.aclose()
        stack.stop()
        if not args.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)  # hundreds of MB after a long run
    return figures


_STARTED: list = []  # the stack and the receivers' process, stopped on SIGTERM too


def _interrupt(*_: object) -> None:
    for thing in _STARTED:
        thing.stop() if hasattr(thing, "stop") else thing.terminate()
    os._exit(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--endpoints", type=int, default=20)
    parser.add_argument("--down", type=int, default=2, help="endpoints answering 503 at first")
    parser.add_argument("--down-for", type=float, default=60.0, help="seconds those endpoints are down")
    parser.add_argument("--conversations", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=1800.0)
    parser.add_argument("--baseline", type=int, default=300, help="bare workflows for the baseline")
    parser.add_argument("--workers", type=int, default=0, help="extra worker processes (python worker.py)")
    parser.add_argument("--keep-data", action="store_true", help="keep the temporary data dir for a look afterwards")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _interrupt)  # `kill PID` still stops every server it started
    if args.serve:
        ports, down, down_for, control = json.loads(args.serve)
        serve_receivers(ports, set(down), down_for, control)
        return
    from helpdeck.embedded import free_port

    ports = [free_port() for _ in range(args.endpoints)]
    control_port = free_port()
    down = set(ports[: args.down])
    receivers = subprocess.Popen(
        [sys.executable, __file__, "--serve", json.dumps([ports, sorted(down), args.down_for, control_port])],
        stdout=subprocess.PIPE, text=True,
    )
    _STARTED.append(receivers)
    try:
        assert receivers.stdout is not None and receivers.stdout.readline().strip() == "ready"
        figures = asyncio.run(run(args, ports, down, control_port, receivers.pid))
    finally:
        receivers.terminate()
    print(json.dumps(figures, indent=2))
    sys.stdout.flush()
    os._exit(0)  # see DESIGN §6: short scripts can abort at exit in the Temporal SDK


if __name__ == "__main__":
    main()
