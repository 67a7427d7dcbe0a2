"""Turn overhead: what a chat turn through Helpdeck costs beyond a bare Temporal workflow.

Runs concurrent conversations against `helpdeck up` (a small FAQ knowledge base, the offline
composer answering), each a loop of sequential turns that are all answered with citations, at
1, 10 and 50 concurrent conversations, and prints p50/p95/p99 of a whole turn as the client
sees it, turns/s and errors (a turn not answered, e.g. handed to a person, is an error). In the
same run, on the same Temporal dev server, it runs the baseline: a bare workflow with the
turn's seven activities (all local, all no-ops) started by a client and run by a worker in this
process, with the product's worker settings (unsandboxed runner, eager start). The ratio
product/baseline is the headline figure.

    .venv/bin/python bench/turn_overhead.py                  # starts `helpdeck up` itself
    .venv/bin/python bench/turn_overhead.py --url http://127.0.0.1:8000 \\
        --admin-token hd_admin_… --temporal-address 127.0.0.1:7233   # an already-running one

Everything it starts is stopped on exit, Ctrl-C or error. See bench/README.md for figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table
from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

REPO = Path(__file__).resolve().parent.parent
# Wide enough for the tables when the output goes to a file or a pipe.
console = Console(width=None if sys.stdout.isatty() else 110)

# Targets of issue 2 on a 2-core machine.
TARGET_P50_MS_AT_1 = 60.0
TARGET_P99_MS_AT_1 = 250.0
TARGET_TURNS_PER_S_AT_50 = 40.0


# --- the baseline: a bare workflow with the turn's activities, all no-ops --------------------


@activity.defn
async def noop_local(step: str) -> str:
    return step


# The steps of an answered ChatTurnWorkflow with the embedded search index and the offline
# composer, in order; all of them are local activities in that configuration (a hosted model
# makes generate_reply a regular one).
TURN_STEPS = (
    "record_user_message", "plan_turn", "understand_message", "retrieve_passages",
    "check_escalation", "generate_reply", "record_reply",
)  # fmt: skip


@workflow.defn
class BaselineTurnWorkflow:
    """The shape of an answered ChatTurnWorkflow without its work: 7 local activities."""

    @workflow.run
    async def run(self, turn: str) -> str:
        timeout = timedelta(seconds=10)
        for step in TURN_STEPS:
            await workflow.execute_local_activity(noop_local, step, start_to_close_timeout=timeout)
        return turn


# --- measuring -------------------------------------------------------------------------------


@dataclass
class LevelResult:
    what: str
    concurrency: int
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed_s: float = 0.0
    error_samples: list[str] = field(default_factory=list)
    # (workflow id, client-observed ms, wall-clock sent, wall-clock received) of each successful
    # unit, for the profile.
    samples: list[tuple[str, float, float, float]] = field(default_factory=list)
    # CPU milliseconds per successful unit, by process group (when the processes are known).
    cpu_ms: dict[str, float] = field(default_factory=dict)
    # How helpdeck turns ended: answered (with citations), abstained, handed to a person.
    outcomes: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.latencies_ms)

    def percentile(self, q: float) -> float:
        """Linear interpolation between closest ranks (numpy's default)."""
        data = sorted(self.latencies_ms)
        if not data:
            return float("nan")
        pos = (len(data) - 1) * q
        low = int(pos)
        high = min(low + 1, len(data) - 1)
        return data[low] + (data[high] - data[low]) * (pos - low)

    @property
    def per_s(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def figures(self) -> dict[str, float]:
        return {
            "p50_ms": self.percentile(0.50),
            "p95_ms": self.percentile(0.95),
            "p99_ms": self.percentile(0.99),
            "per_s": self.per_s,
        }


async def drive(result: LevelResult, units: list, turns: int, max_seconds: float) -> LevelResult:
    """Run len(units) concurrent loops of sequential calls until `turns` or `max_seconds`.

    Each unit is an async callable taking the turn number and returning (ok, workflow id, error).
    """
    budget = iter(range(turns))
    deadline = time.perf_counter() + max_seconds

    async def loop(unit) -> None:  # type: ignore[no-untyped-def]
        for n in budget:
            if time.perf_counter() > deadline:
                return
            sent, started = time.time(), time.perf_counter()
            ok, workflow_id, error = await unit(n)
            took_ms = (time.perf_counter() - started) * 1000
            if ok:
                result.latencies_ms.append(took_ms)
                result.samples.append((workflow_id, took_ms, sent, time.time()))
            else:
                result.errors += 1
                if len(result.error_samples) < 5:
                    result.error_samples.append(error)

    began = time.perf_counter()
    await asyncio.gather(*(loop(u) for u in units))
    result.elapsed_s = time.perf_counter() - began
    return result


# A small FAQ knowledge base (written for this bench) and the questions it answers. Every turn
# asks a question never asked before (a numbered suffix), so no
# query-embedding or retrieval cache helps: each turn embeds, searches and composes.
BENCH_FAQ = [
    ("How do I reset my password?", "Open Settings, choose Security and click Reset password. We email "
     "you a link that stays valid for 30 minutes; follow it and pick a new password."),
    ("How can I change the email address on my account?", "Go to Settings, then Profile, and edit the "
     "Email field. We send a confirmation message to the new address before the change takes effect."),
    ("What payment methods do you accept?", "We accept Visa, Mastercard, American Express, SEPA direct "
     "debit and PayPal. Invoices can be paid by bank transfer on the yearly plan."),
    ("How do I cancel my subscription?", "Open Billing and click Cancel subscription. Your plan stays "
     "active until the end of the current billing period and you will not be charged again."),
    ("Can I export my data?", "Yes. In Settings, choose Data export; we prepare a ZIP archive with your "
     "projects and files and email you a download link within an hour."),
    ("How do I invite a colleague to my team?", "Open Team, click Invite member and enter their email "
     "address. They receive an invitation that is valid for seven days."),
    ("Is two-factor authentication available?", "Yes. Under Settings and Security you can turn on "
     "two-factor authentication with an authenticator app or a hardware security key."),
    ("Where can I download my invoices?", "Every invoice is listed under Billing, then Invoices, where "
     "each one can be downloaded as a PDF."),
]  # fmt: skip
# The FAQ's own questions: the bench measures the turn's cost, not how far a paraphrase may
# stray before the offline composer abstains (eval/ measures that).
BENCH_QUESTIONS = [question for question, _ in BENCH_FAQ]


class Product:
    """Conversations against the Helpdeck API: one company with a small FAQ knowledge base, one
    user per conversation, each turn a question the knowledge base answers."""

    def __init__(self, url: str, admin_token: str) -> None:
        self.url = url.rstrip("/")
        self.admin_token = admin_token
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        self.http = httpx.AsyncClient(base_url=self.url, timeout=60.0, limits=limits)
        self.api_key = ""

    async def create_company(self) -> None:
        r = await self.http.post(
            "/v1/companies",
            headers={"Authorization": f"Bearer {self.admin_token}"},
            json={
                "name": f"bench-{uuid.uuid4().hex[:8]}",
                "tier": "enterprise",
                "settings": {"daily_messages_per_user": 1_000_000},
            },
        )
        r.raise_for_status()
        self.api_key = r.json()["api_key"]
        await self.seed_knowledge()

    async def seed_knowledge(self, timeout_s: float = 180) -> None:
        headers = {"Authorization": f"Bearer {self.api_key}"}
        r = await self.http.post(
            "/v1/documents",
            headers=headers,
            json={"faq": [{"question": q, "answer": a} for q, a in BENCH_FAQ], "title": "Bench FAQ"},
        )
        r.raise_for_status()
        document_id = r.json()["id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = (await self.http.get(f"/v1/documents/{document_id}", headers=headers)).json()["status"]
            if status == "ready":
                return
            if status == "failed":
                raise RuntimeError("the bench FAQ failed to ingest")
            await asyncio.sleep(0.25)
        raise TimeoutError("the bench FAQ was not ready in time")

    async def conversation(self) -> str:
        r = await self.http.post(
            "/v1/conversations",
            headers={"Authorization": f"Bearer {self.api_key}"},
            json={"user_id": f"bench-user-{uuid.uuid4().hex[:12]}"},
        )
        r.raise_for_status()
        return str(r.json()["id"])

    def unit(self, conversation_id: str, result: LevelResult):  # type: ignore[no-untyped-def]
        headers = {"Authorization": f"Bearer {self.api_key}"}
        path = f"/v1/conversations/{conversation_id}/messages"

        async def turn(n: int) -> tuple[bool, str, str]:
            question = f"{BENCH_QUESTIONS[n % len(BENCH_QUESTIONS)]} (ref {n})"
            try:
                r = await self.http.post(path, headers=headers, json={"content": question})
            except httpx.HTTPError as exc:
                return False, "", f"{type(exc).__name__}: {exc}"[:200]
            if r.status_code != 200:
                return False, "", f"HTTP {r.status_code}: {r.text[:200]}"
            body = r.json()
            outcome = _outcome(body.get("message"))
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
            if outcome != "answered":
                # A bench of turns that were not answered measures a shorter path than a turn.
                return False, body["turn_id"], f"turn not answered: {outcome}"
            return True, body["turn_id"], ""

        return turn

    async def level(self, concurrency: int, turns: int, max_seconds: float) -> LevelResult:
        conversations = [await self.conversation() for _ in range(concurrency)]
        result = LevelResult("helpdeck turn", concurrency)
        units = [self.unit(c, result) for c in conversations]
        return await drive(result, units, turns, max_seconds)


def _outcome(message: dict | None) -> str:
    if message is None:
        return "no reply (a person owns the conversation)"
    meta = message.get("metadata") or {}
    if meta.get("handoff"):
        return "handed to a person"
    if meta.get("degraded"):
        return f"degraded: {meta['degraded']}"
    if meta.get("abstained") or not message.get("citations"):
        return "abstained"
    return "answered"


class Baseline:
    """The bare workflow, started and run by this process on the same Temporal server."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.task_queue = f"bench-baseline-{uuid.uuid4().hex[:8]}"

    def worker(self) -> Worker:
        # The product's worker settings (worker.py build_worker).
        return Worker(
            self.client,
            task_queue=self.task_queue,
            workflows=[BaselineTurnWorkflow],
            activities=[noop_local],
            workflow_runner=UnsandboxedWorkflowRunner(),
            max_concurrent_activities=200,
            max_concurrent_local_activities=200,
        )

    def unit(self):  # type: ignore[no-untyped-def]
        async def run(n: int) -> tuple[bool, str, str]:
            workflow_id = f"bench-baseline-{uuid.uuid4().hex}"
            try:
                handle = await self.client.start_workflow(
                    BaselineTurnWorkflow.run,
                    str(n),
                    id=workflow_id,
                    task_queue=self.task_queue,
                    request_eager_start=True,
                )
                await handle.result()
            except Exception as exc:  # noqa: BLE001 - every failure counts as an error
                return False, workflow_id, f"{type(exc).__name__}: {exc}"[:200]
            return True, workflow_id, ""

        return run

    async def level(self, concurrency: int, turns: int, max_seconds: float) -> LevelResult:
        units = [self.unit() for _ in range(concurrency)]
        return await drive(LevelResult("bare workflow", concurrency), units, turns, max_seconds)


# --- profile: where the time of one workflow goes, from its history -------------------------


async def workflow_times(client: Client, workflow_id: str) -> tuple[float, float] | None:
    """Server-side start and close of a workflow, as Unix times (from its describe)."""
    desc = await client.get_workflow_handle(workflow_id).describe()
    if desc.start_time is None or desc.close_time is None:
        return None
    return desc.start_time.timestamp(), desc.close_time.timestamp()


async def history_gaps(client: Client, workflow_id: str) -> list[tuple[str, float]]:
    """(event, ms since the previous event) for each event of a workflow's history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    rows: list[tuple[str, float]] = []
    previous = None
    for event in history.events:
        at = event.event_time.ToDatetime()
        gap = (at - previous).total_seconds() * 1000 if previous else 0.0
        previous = at
        name = (event.WhichOneof("attributes") or "").removesuffix("_event_attributes")
        if event.HasField("activity_task_scheduled_event_attributes"):
            name += " " + event.activity_task_scheduled_event_attributes.activity_type.name
        elif event.HasField("marker_recorded_event_attributes"):
            name += " (local activity)"
        rows.append((name, gap))
    return rows


async def profile(client: Client, product: LevelResult, baseline: LevelResult | None, k: int = 40) -> dict:
    """Where the time of a unit goes, over the last k units at one level: the client-observed time
    split into before the workflow started (HTTP, API checks, the start call), the workflow's own
    start→close, and after it closed (getting the result, the response); then the median and p90
    gap before each event of the history (histories of the most common shape).
    """
    out: dict = {}
    for label, result in (("helpdeck turn", product), ("bare workflow", baseline)):
        if result is None or not result.samples:
            continue
        parts: list[tuple[float, float, float, float]] = []
        histories = []
        for workflow_id, took_ms, sent, received in result.samples[-k:]:
            times = await workflow_times(client, workflow_id)
            if times is not None:
                start, close = times
                parts.append((took_ms, (start - sent) * 1000, (close - start) * 1000, (received - close) * 1000))
            histories.append(await history_gaps(client, workflow_id))
        # A turn that also started a summary, or waited for an earlier turn, has other events.
        shapes: dict[tuple[str, ...], list[list[float]]] = {}
        for h in histories:
            shapes.setdefault(tuple(n for n, _ in h), []).append([g for _, g in h])
        shape, gaps = max(shapes.items(), key=lambda kv: len(kv[1]))
        steps = []
        for i, name in enumerate(shape):
            column = LevelResult("", 0, [g[i] for g in gaps])
            steps.append((name, column.percentile(0.5), column.percentile(0.9)))

        def median(i: int, parts: list[tuple[float, float, float, float]] = parts) -> float:
            return LevelResult("", 0, [p[i] for p in parts]).percentile(0.5)

        out[label] = {
            "n": len(parts),
            "histories_of_this_shape": len(gaps),
            "client_p50_ms": median(0),
            "before_start_p50_ms": median(1),
            "workflow_span_p50_ms": median(2),
            "after_close_p50_ms": median(3),
            "steps": steps,
        }
    return out


def print_profile(prof: dict) -> None:
    for label, p in prof.items():
        console.print(
            f"\n[bold]{label}[/bold] at 1 conversation, medians of the last {p['n']}: client-observed "
            f"{p['client_p50_ms']:.1f} ms = before the workflow started {p['before_start_p50_ms']:.1f} ms "
            f"+ workflow start→close {p['workflow_span_p50_ms']:.1f} ms + after it closed "
            f"{p['after_close_p50_ms']:.1f} ms (medians do not add up exactly)"
        )
        table = Table(
            title=f"{label}: gap before each history event, ms ({p['histories_of_this_shape']} histories)",
            title_justify="left",
        )
        table.add_column("event")
        table.add_column("p50 gap", justify="right")
        table.add_column("p90 gap", justify="right")
        for name, p50, p90 in p["steps"]:
            table.add_row(name, f"{p50:.1f}", f"{p90:.1f}")
        console.print(table)


# --- CPU per turn, by process (Linux /proc) ---------------------------------------------------


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError, ValueError):
            continue
        found.append((int(entry), ppid, cmdline))
    return found


class CpuMeter:
    """CPU seconds of `helpdeck up` and each server it started, and of this process."""

    def __init__(self, up: HelpdeckUp | None) -> None:
        self.up = up

    def groups(self) -> dict[str, list[int]]:
        out: dict[str, list[int]] = {"bench": [os.getpid()]}
        if self.up is None or self.up.process is None or not sys.platform.startswith("linux"):
            return out
        procs = _processes()
        root = self.up.process.pid
        out["helpdeck up"] = [root]
        children: dict[int, list[int]] = {}
        for pid, ppid, _ in procs:
            children.setdefault(ppid, []).append(pid)
        for pid, ppid, cmdline in procs:
            if ppid == root and "temporal" in cmdline.split(" ")[0]:
                out.setdefault("temporal", []).append(pid)
            elif ppid == root and "redis" in cmdline:
                out.setdefault("redis", []).append(pid)
            elif "postgres -D" in cmdline and str(self.up.data_dir) in cmdline:
                # The postmaster detaches; its backends are its children.
                out.setdefault("postgres", []).extend([pid, *children.get(pid, [])])
        return out

    def snapshot(self) -> dict[str, dict[int, float]]:
        return {name: {pid: _cpu_s(pid) for pid in pids} for name, pids in self.groups().items()}

    def per_unit_ms(self, before: dict[str, dict[int, float]], units: int) -> dict[str, float]:
        after = self.snapshot()
        out = {}
        for name, pids in after.items():
            used = sum(cpu - before.get(name, {}).get(pid, 0.0) for pid, cpu in pids.items())
            out[name] = used * 1000 / units if units else float("nan")
        return out


# --- starting and stopping `helpdeck up` ----------------------------------------------------


def free_ports(n: int) -> list[int]:
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


class HelpdeckUp:
    """`helpdeck up` in a temporary data dir on free ports; stop() sends SIGINT and waits."""

    def __init__(self, keep_data: bool) -> None:
        self.keep_data = keep_data
        self.data_dir = Path(tempfile.mkdtemp(prefix="helpdeck-bench-"))
        self.port, self.temporal_port, self.ui_port, self.redis_port = free_ports(4)
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / "helpdeck-up.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    def command(self) -> list[str]:
        exe = Path(sys.executable).parent / "helpdeck"
        return [str(exe), "up", "--port", str(self.port), "--data-dir", str(self.data_dir)]

    def start(self) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            # The offline composer answers instantly; no hosted model, no outside database.
            if k not in {"OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL", "REDIS_URL",
                         "TEMPORAL_ADDRESS", "HELPDECK_ADMIN_TOKEN", "HELPDECK_DATA_DIR"}
            and not k.startswith(("HELPDECK_DATABASE", "HELPDECK_REDIS_URL", "HELPDECK_TEMPORAL_ADDRESS",
                                  "HELPDECK_OPENAI", "HELPDECK_BACKUP"))
        }  # fmt: skip
        env.update(
            HELPDECK_TEMPORAL_PORT=str(self.temporal_port),
            HELPDECK_TEMPORAL_UI_PORT=str(self.ui_port),
            HELPDECK_REDIS_PORT=str(self.redis_port),
            HELPDECK_BURST_CAPACITY="100000",
            DO_NOT_TRACK="1",
        )
        log = open(self.log_path, "wb")  # noqa: SIM115 - lives as long as the process
        # Its own session: a Ctrl-C in this terminal reaches only us, and we stop it once.
        self.process = subprocess.Popen(
            self.command(), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    async def wait_healthy(self, timeout_s: float = 180) -> str:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=5) as http:
            while time.monotonic() < deadline:
                assert self.process is not None
                if self.process.poll() is not None:
                    raise RuntimeError(f"`helpdeck up` exited with {self.process.returncode}:\n{self.log_tail()}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/health")).status_code == 200:
                        return (self.data_dir / "admin_token").read_text().strip()
                await asyncio.sleep(0.25)
        raise TimeoutError(f"`helpdeck up` not healthy after {timeout_s:.0f}s:\n{self.log_tail()}")

    def stop(self) -> None:
        p = self.process
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGINT)
            try:
                p.wait(90)
            except subprocess.TimeoutExpired:
                console.print("[yellow]`helpdeck up` did not stop in 90 s; terminating[/yellow]")
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if not self.keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)


# --- reporting -------------------------------------------------------------------------------


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "-"


def print_table(rows: list[tuple[LevelResult, LevelResult | None]]) -> None:
    table = Table(title="Turn overhead: whole turn, client-observed (ms)", title_justify="left")
    for name, justify in (("conv.", "right"), ("what", "left"), ("n", "right"), ("p50", "right"),
                          ("p95", "right"), ("p99", "right"), ("per s", "right"), ("errors", "right")):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for product, baseline in rows:
        pf = product.figures()
        table.add_row(
            str(product.concurrency), product.what, str(product.ok),
            *(f"{pf[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "per_s")), str(product.errors),
        )  # fmt: skip
        if baseline is not None:
            bf = baseline.figures()
            table.add_row(
                "", baseline.what, str(baseline.ok),
                *(f"{bf[k]:.1f}" for k in ("p50_ms", "p95_ms", "p99_ms", "per_s")), str(baseline.errors),
            )  # fmt: skip
            table.add_row(
                "", "[bold]ratio helpdeck/bare[/bold]", "",
                *(f"[bold]{ratio(pf[k], bf[k])}[/bold]" for k in ("p50_ms", "p95_ms", "p99_ms", "per_s")), "",
                end_section=True,
            )  # fmt: skip
        else:
            table.add_row("", "", "", "", "", "", "", "", end_section=True)
    console.print(table)


def print_cpu_table(rows: list[tuple[LevelResult, LevelResult | None]]) -> None:
    names: list[str] = []
    for product, baseline in rows:
        for r in (product, baseline):
            for name in r.cpu_ms if r is not None else ():
                if name not in names:
                    names.append(name)
    if len(names) < 2:
        return
    table = Table(title="CPU ms per turn / per workflow, by process", title_justify="left")
    table.add_column("conv.", justify="right")
    table.add_column("what")
    for name in names:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    for product, baseline in rows:
        for i, r in enumerate((product, baseline)):
            if r is None:
                continue
            cells = [f"{r.cpu_ms[n]:.1f}" if n in r.cpu_ms else "" for n in names]
            total = sum(r.cpu_ms.values())
            table.add_row(str(r.concurrency) if i == 0 else "", r.what, *cells, f"{total:.1f}",
                          end_section=i == 1 or baseline is None)  # fmt: skip
    console.print(table)
    console.print(
        "helpdeck up: API + worker (one Python process); bench: the HTTP client for helpdeck turns, the Temporal "
        "client + worker for the bare workflow; postgres: backends that exit mid-level are not counted."
    )


def check_targets(rows: list[tuple[LevelResult, LevelResult | None]]) -> list[tuple[str, str, bool]]:
    by_level = {p.concurrency: p for p, _ in rows}
    checks = []
    if 1 in by_level:
        p = by_level[1]
        checks.append((f"p50 < {TARGET_P50_MS_AT_1:.0f} ms at 1 conversation", f"{p.percentile(0.5):.1f} ms",
                       p.percentile(0.5) < TARGET_P50_MS_AT_1))  # fmt: skip
        checks.append((f"p99 < {TARGET_P99_MS_AT_1:.0f} ms at 1 conversation", f"{p.percentile(0.99):.1f} ms",
                       p.percentile(0.99) < TARGET_P99_MS_AT_1))  # fmt: skip
    if 50 in by_level:
        p = by_level[50]
        checks.append((f">= {TARGET_TURNS_PER_S_AT_50:.0f} turns/s at 50 concurrent, no error",
                       f"{p.per_s:.1f} turns/s, {p.errors} errors",
                       p.per_s >= TARGET_TURNS_PER_S_AT_50 and p.errors == 0))  # fmt: skip
    return checks


# --- main ------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--url", help="an already-running Helpdeck API (default: start `helpdeck up`)")
    ap.add_argument("--admin-token", help="its admin token (with --url)")
    ap.add_argument("--temporal-address", help="its Temporal frontend, for the baseline (with --url)")
    ap.add_argument("--levels", default="1,10,50", help="concurrent conversations, comma-separated")
    ap.add_argument("--turns", type=int, default=200, help="turns per level (default 200)")
    ap.add_argument("--max-seconds", type=float, default=40, help="time bound per level (default 40)")
    ap.add_argument("--warmup", type=int, default=10, help="unmeasured turns first (default 10)")
    ap.add_argument("--no-baseline", action="store_true", help="skip the bare-workflow baseline")
    ap.add_argument("--no-profile", action="store_true", help="skip the history profile at 1")
    ap.add_argument("--json", type=Path, help="also write the figures to this file")
    ap.add_argument("--keep-data", action="store_true", help="keep the temporary data dir")
    args = ap.parse_args(argv)
    if args.url and not args.admin_token:
        ap.error("--url needs --admin-token")
    args.levels = [int(x) for x in args.levels.split(",") if x.strip()]
    return args


async def bench(args: argparse.Namespace, up: HelpdeckUp | None) -> int:
    if up is not None:
        console.print(f"starting `helpdeck up` in {up.data_dir} (log: {up.log_path.name}) …")
        started = time.monotonic()
        up.start()
        admin_token = await up.wait_healthy()
        url, temporal_address = up.url, up.temporal_address
        console.print(f"healthy after {time.monotonic() - started:.1f} s at {url}, Temporal {temporal_address}")
    else:
        url, admin_token, temporal_address = args.url, args.admin_token, args.temporal_address

    load_before = os.getloadavg()
    product = Product(url, admin_token)
    client = await Client.connect(temporal_address) if temporal_address else None
    baseline = Baseline(client) if client is not None and not args.no_baseline else None
    if baseline is None and not args.no_baseline:
        console.print("[yellow]no --temporal-address: the baseline is skipped[/yellow]")
    rows: list[tuple[LevelResult, LevelResult | None]] = []
    prof: dict = {}
    meter = CpuMeter(up)
    worker_run: asyncio.Task | None = None
    try:
        await product.create_company()
        if args.warmup:
            await product.level(1, args.warmup, args.max_seconds)
        if baseline is not None:
            worker = baseline.worker()
            worker_run = asyncio.create_task(worker.run())
            if args.warmup:
                await baseline.level(1, args.warmup, args.max_seconds)
        for level in args.levels:
            before = meter.snapshot()
            p = await product.level(level, args.turns, args.max_seconds)
            p.cpu_ms = meter.per_unit_ms(before, p.ok)
            console.print(
                f"  {level:>3} conversations: helpdeck {p.ok} turns in {p.elapsed_s:.1f} s, {p.errors} errors; "
                + ", ".join(f"{k} {v}" for k, v in sorted(p.outcomes.items()))
            )
            for e in p.error_samples:
                console.print(f"      [red]{e}[/red]")
            b = None
            if baseline is not None:
                before = meter.snapshot()
                b = await baseline.level(level, args.turns, args.max_seconds)
                b.cpu_ms = meter.per_unit_ms(before, b.ok)
                console.print(
                    f"  {level:>3} concurrent: bare workflow {b.ok} in {b.elapsed_s:.1f} s, {b.errors} errors"
                )
                for e in b.error_samples:
                    console.print(f"      [red]{e}[/red]")
            rows.append((p, b))
            if level == 1 and client is not None and not args.no_profile:
                prof = await profile(client, p, b)
    finally:
        await product.http.aclose()
        if worker_run is not None:
            # Bounded: an interrupted bench must still get to stopping `helpdeck up`.
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(worker.shutdown(), 15)

    load_after = os.getloadavg()
    console.print()
    print_table(rows)
    print_cpu_table(rows)
    console.print(
        f"load average (1/5/15 min) before {'/'.join(f'{x:.1f}' for x in load_before)}, "
        f"after {'/'.join(f'{x:.1f}' for x in load_after)} on {os.cpu_count()} cores"
    )
    checks = check_targets(rows)
    for name, got, met in checks:
        mark = "[green]met[/green]" if met else "[red]missed[/red]"
        console.print(f"target {name}: {got} — {mark}")
    if prof:
        print_profile(prof)
    if args.json:
        payload = {
            "levels": [
                {
                    "concurrency": p.concurrency,
                    "helpdeck": {**p.figures(), "n": p.ok, "errors": p.errors, "cpu_ms": p.cpu_ms,
                                 "outcomes": p.outcomes},
                    "bare": {**b.figures(), "n": b.ok, "errors": b.errors, "cpu_ms": b.cpu_ms} if b else None,
                }
                for p, b in rows
            ],
            "targets": [{"target": n, "got": g, "met": m} for n, g, m in checks],
            "profile": prof,
            "load_average": {"before": load_before, "after": load_after},
        }
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    # 0: every target met; 1: a target missed; 2: the bench failed; 130: interrupted.
    return 0 if all(m for _, _, m in checks) else 1


async def interruptible(args: argparse.Namespace, up: HelpdeckUp | None) -> int:
    """The bench, cancelled (cleanly, through its finally blocks) by Ctrl-C or SIGTERM."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, task.cancel)
    try:
        return await bench(args, up)
    except asyncio.CancelledError:
        console.print("[yellow]interrupted[/yellow]")
        return 130


def main() -> None:
    args = parse_args()
    up = None if args.url else HelpdeckUp(args.keep_data)
    code = 2
    try:
        # Not asyncio.run: its final cancel-everything pass could wait on a stuck task forever,
        # and `helpdeck up` must be stopped whatever happens here.
        loop = asyncio.new_event_loop()
        code = loop.run_until_complete(interruptible(args, up))
    except BaseException as exc:  # noqa: BLE001 - report, then clean up
        console.print(f"[red]bench failed:[/red] {type(exc).__name__}: {exc}")
        code = 2
    finally:
        if up is not None:
            # Finish stopping whatever arrives meanwhile: stop() is bounded by its own timeouts.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            console.print("stopping `helpdeck up` …")
            up.stop()
            if args.keep_data:
                console.print(f"data kept in {up.data_dir}")
        sys.stdout.flush()
        sys.stderr.flush()
        # DESIGN §6: a short script can abort at exit in PyGILState_Release.
        os._exit(code)


if __name__ == "__main__":
    main()
