"""A worker interceptor that turns activity outcomes into Prometheus metrics: every activity's
executions, chat-model calls by slot and outcome, and each recorded reply's usage."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from helpdeck.observability import metrics as m


def turn_outcome(content: str | None, citations: list, meta: dict) -> str:
    """answered, unanswered (nothing to ground it on: a knowledge gap), canned, or human."""
    if content is None:
        return "human"
    if meta.get("degraded") == "canned":
        return "canned"
    return "answered" if citations or meta.get("cache_hit") else "unanswered"


def observe_reply(params: Any) -> None:
    meta: dict = getattr(params, "meta", None) or {}
    outcome = turn_outcome(getattr(params, "content", None), getattr(params, "citations", []), meta)
    m.TURNS.labels(outcome).inc()
    model = str(meta.get("model") or "")
    if model:
        m.LLM_TOKENS.labels(model, "prompt").inc(int(meta.get("prompt_tokens") or 0))
        m.LLM_TOKENS.labels(model, "completion").inc(int(meta.get("completion_tokens") or 0))
        m.LLM_COST.labels(model).inc(float(meta.get("cost_usd") or 0.0))
    if "cache_hit" in meta:
        m.CACHE_LOOKUPS.labels("hit" if meta["cache_hit"] else "miss").inc()
    for step, key in (("retrieve", "retrieve_ms"), ("generate", "latency_ms")):
        if meta.get(key) is not None:
            m.TURN_LATENCY.labels(step).observe(float(meta[key]) / 1000)
    if outcome == "human" or meta.get("escalation_reason"):
        m.ESCALATIONS.labels(str(meta.get("escalation_reason") or "human_in_charge")).inc()


class _ActivityMetrics(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:  # noqa: A002
        name = activity.info().activity_type
        params = input.args[0] if input.args else None
        try:
            result = await self.next.execute_activity(input)
        except BaseException:
            m.ACTIVITIES.labels(name, "failure").inc()
            if name == "generate_reply":
                m.LLM_CALLS.labels(str(getattr(params, "slot", "")), "failure").inc()
            raise
        m.ACTIVITIES.labels(name, "success").inc()
        if name == "generate_reply":
            m.LLM_CALLS.labels(str(getattr(params, "slot", "")), "success").inc()
        elif name == "record_reply" and params is not None:
            observe_reply(params)
        return result


class ActivityMetricsInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:  # noqa: A002
        return _ActivityMetrics(next)
