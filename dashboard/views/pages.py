"""Each page: headline figures, a chart where a picture reads faster, and every table with a
CSV download. Figures come from one `/v1/analytics/<page>` report, kept for a minute per
caller, page and filters (Streamlit reruns the page on every click, a CSV download included).
Charts are small Vega-Lite specs written here: st.line_chart / st.bar_chart build them through
Altair, whose schema validation costs more than the rest of the page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pandas as pd
import streamlit as st

from dashboard.client import AnalyticsClient, ApiError


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _money(value: float | None) -> str:
    return "—" if value is None else f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:,}"


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,} ms"


# The roll-ups behind the reports refresh every few minutes; a minute's reuse hides nothing new.
REPORT_TTL_S = 60


@st.cache_data(ttl=REPORT_TTL_S, max_entries=512, show_spinner=False)
def _cached_report(
    base_url: str, token: str, page: str, first: date, last: date, channel: str | None, company_id: str | None
) -> dict:
    # Keyed by the caller's token: a company only ever gets back what its own credentials read.
    return AnalyticsClient(base_url, token).report(page, first, last, channel, company_id)


def forget_reports() -> None:
    """After an on-demand refresh of the figures: the next render reads them again."""
    _cached_report.clear()


def _fetch(page: str) -> dict | None:
    client: AnalyticsClient = st.session_state["client"]
    f = st.session_state["filters"]
    try:
        return _cached_report(client.base_url, client.token, page, f["first"], f["last"], f["channel"], f["company_id"])
    except ApiError as exc:
        st.error(f"The API refused: {exc.detail} ({exc.code})")
        return None


def _metrics(figures: list[tuple[str, str]]) -> None:
    columns = st.columns(len(figures))
    for column, (label, value) in zip(columns, figures, strict=True):
        column.metric(label, value)


def _line_chart(frame: pd.DataFrame, day: str, series: list[str]) -> None:
    """One line per column in `series`, by day."""
    spec = {
        "mark": {"type": "line", "tooltip": True},
        "transform": [{"fold": series, "as": ["series", "value"]}],
        "encoding": {
            "x": {"field": day, "type": "temporal", "title": None},
            "y": {"field": "value", "type": "quantitative", "title": None},
            "color": {"field": "series", "type": "nominal", "title": None},
        },
    }
    st.vega_lite_chart(frame[[day, *series]], spec, width="stretch")


def _bar_chart(
    frame: pd.DataFrame, category: str, value: str, *, by_day: bool = False, horizontal: bool = False
) -> None:
    """One bar per row: `value` against `category` (a day, or a label sorted by value)."""
    along = {"field": category, "type": "temporal" if by_day else "nominal", "title": None}
    if by_day:
        along["timeUnit"] = "yearmonthdate"
    else:
        along["sort"] = "-x" if horizontal else "-y"
    size = {"field": value, "type": "quantitative", "title": value.replace("_", " ")}
    encoding = {"y": along, "x": size} if horizontal else {"x": along, "y": size}
    spec = {"mark": {"type": "bar", "tooltip": True}, "encoding": encoding}
    st.vega_lite_chart(frame[[category, value]], spec, width="stretch")


def _table(title: str, rows: list[dict], key: str) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    st.subheader(title)
    if frame.empty:
        st.caption("Nothing in this range yet.")
        return frame
    st.dataframe(frame, width="stretch", hide_index=True)
    st.download_button(
        f"Download {title.lower()} (CSV)",
        frame.to_csv(index=False).encode(),
        file_name=f"helpdeck-{key}.csv",
        mime="text/csv",
        key=f"csv-{key}",
    )
    return frame


def overview() -> None:
    st.title("Overview")
    report = _fetch("overview")
    if report is None:
        return
    s = report["summary"]
    _metrics(
        [
            ("Conversations", _number(s["conversations"])),
            ("Messages", _number(s["messages"])),
            ("Active users", _number(s["active_users"])),
            ("CSAT (1-5)", "—" if s["csat"] is None else f"{s['csat']:.2f}"),
        ]
    )
    _metrics(
        [
            ("Automated resolution", _percent(s["automated_resolution_rate"])),
            ("Durable resolution (7 days)", _percent(s["durable_resolution_rate"])),
            ("Escalation rate", _percent(s["escalation_rate"])),
            ("Cost per conversation", _money(s["cost_per_conversation_usd"])),
        ]
    )
    frame = pd.DataFrame(report["tables"]["by_day"])
    if not frame.empty:
        st.subheader("Trends by day")
        _line_chart(frame, "day", ["conversations", "messages", "active_users"])
    _table("By day", report["tables"]["by_day"], "overview-by-day")


def escalations() -> None:
    st.title("Escalations")
    report = _fetch("escalations")
    if report is None:
        return
    s = report["summary"]
    _metrics(
        [
            ("Escalations", _number(s["escalations"])),
            ("SLA breaches", _number(s["sla_breaches"])),
            ("Average wait", "—" if s["avg_wait_s"] is None else f"{s['avg_wait_s']:.0f} s"),
        ]
    )
    frame = pd.DataFrame(report["tables"]["by_reason"])
    if not frame.empty:
        _bar_chart(frame, "reason", "escalations")
    _table("By reason", report["tables"]["by_reason"], "escalations-by-reason")
    _table("By day", report["tables"]["by_day"], "escalations-by-day")


def knowledge_gaps() -> None:
    st.title("Knowledge gaps")
    st.caption(
        "Questions the bot could not ground in your knowledge base, grouped by topic: write these documents next."
    )
    report = _fetch("knowledge-gaps")
    if report is None:
        return
    _metrics([("Unanswered questions", _number(report["summary"]["unanswered_questions"]))])
    frame = pd.DataFrame(report["tables"]["topics"])
    if not frame.empty:
        _bar_chart(frame.head(15), "topic", "questions", horizontal=True)
    _table("Topics", report["tables"]["topics"], "knowledge-gaps")


def quality() -> None:
    st.title("Quality")
    report = _fetch("quality")
    if report is None:
        return
    s = report["summary"]
    _metrics(
        [
            ("Thumbs up", _number(s["thumbs_up"])),
            ("Thumbs down", _number(s["thumbs_down"])),
            ("Satisfaction", _percent(s["satisfaction"])),
            ("Grounded answers", _percent(s["answer_rate"])),
            ("Citation clicks", _number(s.get("citation_clicks", 0))),
        ]
    )
    _table("Latest thumbs down", report["tables"]["thumbs_down"], "thumbs-down")
    clicks = report["tables"].get("citation_clicks", [])
    frame = pd.DataFrame(clicks)
    if not frame.empty:
        st.subheader("Cited sources customers opened")
        st.bar_chart(frame.head(15).set_index("document")[["clicks"]], horizontal=True)
    _table("Citation clicks by document", clicks, "citation-clicks")


def cost() -> None:
    st.title("Cost")
    report = _fetch("cost")
    if report is None:
        return
    s = report["summary"]
    _metrics(
        [
            ("Spend", _money(s["cost_usd"])),
            ("Tokens", _number(s["tokens"])),
            ("Cache savings", _money(s["cache_savings_usd"])),
            ("Budget burn (monthly pace)", _percent(s["budget_burn"])),
        ]
    )
    frame = pd.DataFrame(report["tables"]["by_day"])
    if not frame.empty:
        st.subheader("Spend by day")
        _bar_chart(frame, "day", "cost_usd", by_day=True)
    _table("By model", report["tables"]["by_model"], "cost-by-model")
    _table("By intent", report["tables"]["by_intent"], "cost-by-intent")


def latency() -> None:
    st.title("Latency")
    report = _fetch("latency")
    if report is None:
        return
    s = report["summary"]
    _metrics([("p50 (turn)", _ms(s["p50_ms"])), ("p95 (turn)", _ms(s["p95_ms"])), ("p99 (turn)", _ms(s["p99_ms"]))])
    frame = pd.DataFrame(report["tables"]["by_day"])
    if not frame.empty:
        st.subheader("Turn latency by day")
        _line_chart(frame, "day", ["p50_ms", "p95_ms"])
    _table("By step", report["tables"]["by_step"], "latency-by-step")


PAGES: dict[str, tuple[Callable[[], None], str]] = {
    "overview": (overview, ":material/dashboard:"),
    "escalations": (escalations, ":material/support_agent:"),
    "knowledge-gaps": (knowledge_gaps, ":material/help:"),
    "quality": (quality, ":material/thumbs_up_down:"),
    "cost": (cost, ":material/payments:"),
    "latency": (latency, ":material/speed:"),
}
