"""Helpdeck's managers' dashboard (Streamlit): sign in, pick a range and a channel, read.

Run with `streamlit run dashboard/app.py` (`helpdeck up` starts it); it reads everything
through the API at HELPDECK_API_URL, with the caller's own credentials, so a company sees only
its own numbers and the platform admin token sees every company.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import streamlit as st

from dashboard.client import AnalyticsClient, ApiError, api_url, login
from dashboard.views.console import console
from dashboard.views.pages import PAGES, forget_reports

CHANNELS = ["all", "api", "widget", "slack", "discord", "openai"]

st.set_page_config(page_title="Helpdeck analytics", page_icon=":material/support:", layout="wide")


def sign_in() -> None:
    st.title("Helpdeck analytics")
    base = st.session_state.get("api_url") or api_url()
    with st.form("sign-in"):
        st.write("Sign in with your company account, or with a company secret key.")
        email = st.text_input("Email")
        password = st.text_input("Password", type="password")
        key = st.text_input("…or an API key (hd_sk_…) or the platform admin token", type="password")
        submitted = st.form_submit_button("Sign in")
    if not submitted:
        return
    try:
        token = key.strip() or login(base, email.strip(), password)
        client = AnalyticsClient(base, token)
        today = datetime.now(UTC).date()
        client.report("overview", today, today)  # proves the credentials before going on
    except ApiError as exc:
        st.error(f"Sign-in failed: {exc.detail}")
        return
    st.session_state["client"] = client
    st.rerun()


def filters() -> None:
    today = datetime.now(UTC).date()
    with st.sidebar:
        st.header("Filters")
        picked = st.date_input("Date range", value=(today - timedelta(days=29), today), max_value=today, key="range")
        first, last = picked if isinstance(picked, tuple) and len(picked) == 2 else (today - timedelta(days=29), today)
        channel = st.selectbox("Channel", CHANNELS, key="channel")
        company_id = st.text_input("Company id (platform admin)", key="company_id").strip() or None
        if st.button("Refresh figures now", help="The schedule refreshes them every few minutes"):
            try:
                st.session_state["client"].refresh(first, last)
                forget_reports()
                st.toast("Figures refreshed")
            except ApiError as exc:
                st.error(exc.detail)
        if st.button("Sign out"):
            del st.session_state["client"]
            st.rerun()
    st.session_state["filters"] = {
        "first": first,
        "last": last,
        "channel": None if channel == "all" else channel,
        "company_id": company_id,
    }


if "client" not in st.session_state:
    sign_in()
else:
    filters()
    pages = [
        st.Page(render, title=name.replace("-", " ").capitalize(), icon=icon, url_path=name, default=name == "overview")
        for name, (render, icon) in PAGES.items()
    ]
    pages.append(st.Page(console, title="Agent console", icon=":material/headset_mic:", url_path="console"))
    st.navigation(pages).run()
