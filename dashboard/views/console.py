"""The agent console: the company's live queue, one escalation's conversation, and the actions
on it (claim, reply, release, resolve). Everything goes through the API with the signed-in
user's session, so the API decides who may do what: an analyst reads only, and nobody sees
another company's queue. The queue re-reads itself every few seconds (no manual refresh)."""

from __future__ import annotations

from typing import Any

import httpx
import streamlit as st

from dashboard.client import ApiError

REFRESH_S = 3
ACTING_ROLES = {"owner", "admin", "agent"}
SLA_BADGES = {"on_track": "on track", "after_hours": "after hours", "breached": "BREACHED", "met": "met"}
AVATARS = {"user": "user", "assistant": "assistant", "agent": ":material/support_agent:", "system": ":material/info:"}


def _call(method: str, path: str, **kwargs: Any) -> Any:
    client = st.session_state["client"]
    response = httpx.request(
        method, client.base_url + path, headers={"Authorization": f"Bearer {client.token}"}, timeout=30, **kwargs
    )
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {}
        raise ApiError(response.status_code, body.get("code", "http_error"), body.get("detail", response.text[:200]))
    return response.json() if response.content else None


def _role() -> str:
    if "console_role" not in st.session_state:
        try:
            me = _call("GET", "/v1/me")
            st.session_state["console_role"] = (me.get("user") or {}).get("role", "analyst")
            st.session_state["console_user"] = (me.get("user") or {}).get("id")
        except ApiError:
            st.session_state["console_role"] = "key"  # a secret key: reads the queue, cannot claim
            st.session_state["console_user"] = None
    return str(st.session_state["console_role"])


def _wait(seconds: int) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


@st.fragment(run_every=REFRESH_S)
def queue() -> None:
    try:
        items = _call("GET", "/v1/escalations", params={"limit": 200})["items"]
    except ApiError as exc:
        st.error(f"Could not load the queue: {exc.detail}")
        return
    open_items = [e for e in items if e["status"] != "resolved"]
    waiting = sum(1 for e in open_items if e["status"] == "waiting")
    breached = sum(1 for e in open_items if e["sla"]["state"] == "breached")
    left, middle, right = st.columns(3)
    left.metric("Waiting", waiting)
    middle.metric("Claimed", len(open_items) - waiting)
    right.metric("SLA breached", breached)
    if not open_items:
        st.info("The queue is empty.")
        return
    rows = [
        {
            "priority": e["priority"],
            "status": e["status"],
            "category": e["category"],
            "waiting": _wait(e["wait_seconds"]),
            "SLA": SLA_BADGES.get(e["sla"]["state"], e["sla"]["state"]),
            "reason": e["reason"],
            "claimed by": "me" if e["claimed_by"] and e["claimed_by"] == st.session_state.get("console_user")
            else ("someone" if e["claimed_by"] else ""),
            "id": e["id"],
        }
        for e in open_items
    ]
    st.dataframe(rows, hide_index=True, use_container_width=True)
    ids = [e["id"] for e in open_items]
    labels = {
        e["id"]: f"P{e['priority']} · {e['status']} · {e['category']} · {_wait(e['wait_seconds'])}" for e in open_items
    }
    current = st.session_state.get("console_selected")
    picked = st.selectbox(
        "Open an escalation", ids, index=ids.index(current) if current in ids else 0, format_func=labels.get
    )
    if picked != current:
        st.session_state["console_selected"] = picked
        st.rerun()


def _act(label: str, method: str, path: str, **kwargs: Any) -> None:
    try:
        _call(method, path, **kwargs)
        st.session_state["console_notice"] = label
    except ApiError as exc:
        st.session_state["console_error"] = f"{exc.detail} ({exc.code})"
    st.rerun()


def conversation(escalation_id: str, role: str) -> None:
    try:
        escalation = _call("GET", f"/v1/escalations/{escalation_id}")
        messages = _call("GET", f"/v1/escalations/{escalation_id}/messages")["items"]
    except ApiError as exc:
        st.error(exc.detail)
        return
    st.subheader(f"Escalation · {escalation['category'].replace('_', ' ')}")
    sla = escalation["sla"]
    st.caption(
        f"Status **{escalation['status']}** · priority {escalation['priority']} · waiting "
        f"{_wait(escalation['wait_seconds'])} · SLA {SLA_BADGES.get(sla['state'], sla['state'])}"
        + (f" (due {sla['due_at'][11:16]} UTC)" if sla.get("due_at") else "")
    )
    if escalation.get("reason"):
        st.write(f"Reason: {escalation['reason']}")
    assist = escalation.get("assist") or {}
    if assist.get("summary"):
        with st.expander("Summary and retrieved passages"):
            st.write(assist["summary"])
            for passage in assist.get("retrieved_passages") or []:
                st.caption(str(passage.get("title") or passage.get("text") or passage)[:300])
    for message in messages:
        role_name = message["role"] if message["role"] in AVATARS else "system"
        with st.chat_message(role_name, avatar=AVATARS[role_name]):
            st.write(message["content"] or "")
    mine = escalation["claimed_by"] and escalation["claimed_by"] == st.session_state.get("console_user")
    if role not in ACTING_ROLES:
        st.info("Read-only: your role may read the queue but not act on it.")
        return
    if escalation["status"] == "resolved":
        return
    base = f"/v1/escalations/{escalation_id}"
    if escalation["status"] == "waiting":
        if st.button("Claim", type="primary"):
            _act("Claimed", "POST", f"{base}/claim")
    elif mine or role in {"owner", "admin"}:
        with st.form("reply", clear_on_submit=True):
            answered = any(m["role"] == "agent" for m in messages)
            text = st.text_area("Reply", value=assist.get("draft_reply", "") if mine and not answered else "")
            if st.form_submit_button("Send reply", type="primary") and text.strip():
                _act("Reply sent", "POST", f"{base}/messages", json={"content": text.strip()})
        if st.button("Release"):
            _act("Released", "POST", f"{base}/release")
    else:
        st.caption("Another agent has claimed this escalation.")
    if escalation["status"] == "waiting" or mine or role in {"owner", "admin"}:
        hand_back = st.checkbox("Hand back to the bot", value=False)
        if st.button("Resolve"):
            _act("Resolved", "POST", f"{base}/resolve", json={"hand_back_to_bot": hand_back})


def console() -> None:
    st.title("Agent console")
    role = _role()
    for key, show in (("console_notice", st.success), ("console_error", st.error)):
        if key in st.session_state:
            show(st.session_state.pop(key))
    queue()
    selected = st.session_state.get("console_selected")
    if selected:
        st.divider()
        conversation(selected, role)
