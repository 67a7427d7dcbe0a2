"""Escalation rules that need no I/O: reason categories, default priorities, a company's SLA
and business hours, and when its team is next on duty. Workflows call these with workflow.now().

A company configures them in `settings.escalation`, for example::

    {"first_response_minutes": 5,
     "business_hours": {"timezone": "Europe/Zurich", "days": [0, 1, 2, 3, 4],
                        "start": "09:00", "end": "17:30"}}

Days are ISO weekdays counted from Monday = 0. Without business hours the team is always on duty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

CATEGORIES = (
    "customer_request",
    "complaint",
    "missing_knowledge",
    "low_confidence",
    "action_failed",
    "tenant_rule",
)
# 1 is the most urgent, 4 the least; an unanswered escalation climbs one step per breach.
DEFAULT_PRIORITY = {
    "customer_request": 3,
    "complaint": 2,
    "missing_knowledge": 3,
    "low_confidence": 3,
    "action_failed": 2,
    "tenant_rule": 2,
}
HIGHEST_PRIORITY, LOWEST_PRIORITY = 1, 4


@dataclass
class EscalationPolicy:
    first_response_minutes: int
    timezone: str | None = None  # None: no business hours, always on duty
    days: list[int] = field(default_factory=list)
    start_minute: int = 0  # minutes after local midnight
    end_minute: int = 24 * 60


def _minutes(text: object) -> int | None:
    if not isinstance(text, str) or ":" not in text:
        return None
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit()):
        return None
    value = int(hours) * 60 + int(minutes)
    return value if 0 <= value <= 24 * 60 and int(minutes) < 60 else None


def policy_from_settings(company_settings: dict, default_minutes: int) -> EscalationPolicy:
    """Read a company's escalation settings; anything malformed falls back to the defaults."""
    config = company_settings.get("escalation") or {}
    if not isinstance(config, dict):
        config = {}
    minutes = config.get("first_response_minutes", default_minutes)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= 7 * 24 * 60:
        minutes = default_minutes
    policy = EscalationPolicy(first_response_minutes=minutes)
    hours = config.get("business_hours")
    if not isinstance(hours, dict):
        return policy
    tz, days = hours.get("timezone"), hours.get("days", [0, 1, 2, 3, 4])
    start, end = _minutes(hours.get("start", "09:00")), _minutes(hours.get("end", "17:00"))
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        return policy
    if (
        start is None
        or end is None
        or start >= end
        or not isinstance(days, list)
        or not days
        or not all(isinstance(d, int) and 0 <= d <= 6 for d in days)
    ):
        return policy
    policy.timezone, policy.days, policy.start_minute, policy.end_minute = str(tz), sorted(set(days)), start, end
    return policy


def _at(day: date, minute: int, zone: ZoneInfo) -> datetime:
    if minute >= 24 * 60:
        return datetime.combine(day + timedelta(days=1), time(0), zone)
    return datetime.combine(day, time(minute // 60, minute % 60), zone)


def next_opening(policy: EscalationPolicy, now: datetime) -> datetime | None:
    """None when the team is on duty at `now`; otherwise when it next is (in UTC)."""
    if policy.timezone is None:
        return None
    zone = ZoneInfo(policy.timezone)
    local = now.astimezone(zone)
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        if day.weekday() not in policy.days:
            continue
        opens, closes = _at(day, policy.start_minute, zone), _at(day, policy.end_minute, zone)
        if opens <= local < closes:
            return None
        if local < opens:
            return opens.astimezone(UTC)
    return None  # unreachable with at least one day configured


def after_hours_message(policy: EscalationPolicy, opening: datetime) -> str:
    """What the customer reads when nobody is on duty: when to expect an answer."""
    local = opening.astimezone(ZoneInfo(policy.timezone or "UTC"))
    when = local.strftime("%A %H:%M") + f" ({policy.timezone})"
    return (
        "Thanks for your patience. Our team is not available right now; a person will answer "
        f"after we open on {when}, within about {policy.first_response_minutes} minutes. "
        "Your conversation stays in our queue, so you do not need to write again."
    )
