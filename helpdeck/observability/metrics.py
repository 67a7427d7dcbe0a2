"""Helpdeck's own Prometheus metrics, in one registry that `/metrics` serves.

Counters move where the thing happens (HTTP middleware, the worker's activity interceptor);
gauges of backlogs are read from the database when Prometheus scrapes.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 1.5, 2, 3, 5, 10, 30, 60)

HTTP_REQUESTS = Counter(
    "helpdeck_http_requests_total",
    "HTTP requests by method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "helpdeck_http_request_duration_seconds",
    "Time to the end of the response, by method and route template.",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
TURNS = Counter(
    "helpdeck_turns_total",
    "Recorded turns by outcome: answered, unanswered (knowledge gap), canned, human.",
    ["outcome"],
    registry=REGISTRY,
)
TURN_LATENCY = Histogram(
    "helpdeck_turn_step_duration_seconds",
    "Latency of a turn's steps (retrieve, generate).",
    ["step"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
LLM_CALLS = Counter(
    "helpdeck_llm_calls_total",
    "Calls to a chat model by slot and outcome (success, failure).",
    ["slot", "outcome"],
    registry=REGISTRY,
)
LLM_TOKENS = Counter(
    "helpdeck_llm_tokens_total",
    "Tokens spent by model and kind (prompt, completion).",
    ["model", "kind"],
    registry=REGISTRY,
)
LLM_COST = Counter("helpdeck_llm_cost_usd_total", "Model spend in US dollars by model.", ["model"], registry=REGISTRY)
LLM_BUDGET = Gauge(
    "helpdeck_llm_daily_budget_usd",
    "The platform's daily model budget (HELPDECK_LLM_DAILY_BUDGET_USD); 0 means none.",
    registry=REGISTRY,
)
CACHE_LOOKUPS = Counter(
    "helpdeck_answer_cache_lookups_total",
    "Answer cache lookups by result (hit, miss).",
    ["result"],
    registry=REGISTRY,
)
ESCALATIONS = Counter(
    "helpdeck_escalations_total", "Turns handed to a human, by reason.", ["reason"], registry=REGISTRY
)
ACTIVITIES = Counter(
    "helpdeck_activity_executions_total",
    "Activity executions by activity type and outcome.",
    ["activity", "outcome"],
    registry=REGISTRY,
)
BACKLOG = Gauge(
    "helpdeck_backlog",
    "Work waiting, read at scrape time: running_turns, open_escalations, ingestion, "
    "webhook_deliveries, task_queue (Temporal's approximate backlog).",
    ["queue"],
    registry=REGISTRY,
)
