"""Offline picking and parameter extraction, driven by each action's JSON Schema, and the
rendering of an action's answer as a reply."""

from __future__ import annotations

import json

from helpdeck.actions.extract import ActionSpec, extract_arguments, pick_action
from helpdeck.actions.render import needs_text, summarise_result

ORDER = ActionSpec("1", "order_status", "Where an order is: delivery status and carrier", {
    "type": "object", "properties": {"order_id": {"type": "string", "description": "order number"}},
    "required": ["order_id"]})
SUBSCRIPTION = ActionSpec("2", "cancel_subscription", "Cancel a subscription plan", {
    "type": "object",
    "properties": {"email": {"type": "string", "format": "email"}, "plan": {"enum": ["basic", "pro"]}},
    "required": ["email", "plan"]})
REFUND = ActionSpec("3", "refund", "Refund an amount for an order", {
    "type": "object", "properties": {"amount": {"type": "number", "minimum": 0}, "order_id": {"type": "integer"}},
    "required": ["amount", "order_id"]})
ALL = [ORDER, SUBSCRIPTION, REFUND]


def test_the_action_sharing_most_words_is_picked_with_its_arguments() -> None:
    cases = {
        "Where is my order #A-778?": ("order_status", {"order_id": "A-778"}, []),
        "What is the order number 12345 status": ("order_status", {"order_id": "12345"}, []),
        "cancel my pro subscription, I am bob@example.com": (
            "cancel_subscription", {"email": "bob@example.com", "plan": "pro"}, []),
        "Please refund 12.5 for order 4411": ("refund", {"amount": 12.5, "order_id": 4411}, []),
        "cancel my subscription": ("cancel_subscription", {}, ["email", "plan"]),
    }
    for message, (name, arguments, missing) in cases.items():
        picked = pick_action(ALL, message)
        assert picked is not None, message
        assert (picked.action.name, picked.arguments, picked.missing) == (name, arguments, missing), message
    assert pick_action(ALL, "How do I reset my password?") is None


def test_a_pattern_takes_the_word_that_matches_it_in_any_language() -> None:
    spec = ActionSpec("1", "order_status", "", {"type": "object", "properties": {
        "order_id": {"type": "string", "pattern": "^[0-9]{5}$"}}, "required": ["order_id"]})
    assert extract_arguments(spec, "Wo ist meine Bestellung Nr. 12345?") == ({"order_id": "12345"}, [])
    assert extract_arguments(spec, "我的订单 54321 在哪里") == ({"order_id": "54321"}, [])
    assert extract_arguments(spec, "order 1234") == ({}, ["order_id"])


def test_a_result_is_rendered_field_by_field_and_bounded() -> None:
    body = json.dumps({"status": "shipped", "tracking": {"carrier": "DHL", "code": None}, "lines": [{"a": 1}] * 3,
                       "note": "x" * 500, "gift": True}).encode()
    summary = summarise_result("application/json", body)
    assert summary.splitlines()[:3] == ["- Status: shipped", "- Tracking › Carrier: DHL", "- Lines: 3"]
    assert "- Gift: yes" in summary and max(len(line) for line in summary.splitlines()) < 220
    assert summarise_result("text/html", b"<html>secret</html>") == ""


def test_missing_parameters_are_asked_for_by_their_description() -> None:
    assert needs_text("en", ["order_id"], ORDER.parameters) == "To do that I need your order number. Could you send it?"
    german = needs_text("de", ["email", "plan"], SUBSCRIPTION.parameters)
    assert german.startswith("Dafür brauche ich noch: email und plan")
