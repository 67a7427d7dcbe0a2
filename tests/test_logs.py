"""Structured logs: JSON lines with request, company and workflow ids; never message bodies."""

from __future__ import annotations

import json
import logging

from helpdeck.logs import JsonFormatter
from tests.conftest import Tenant, new_conversation


async def test_logs_carry_ids_and_never_the_message_or_the_key(tenant: Tenant, caplog) -> None:
    caplog.set_level(logging.INFO)
    conversation = await new_conversation(tenant)
    secret_text = "my card number is 4111 1111 1111 1111"
    response = await tenant.client.post(
        f"/v1/conversations/{conversation}/messages", json={"content": secret_text}, headers={"X-Request-ID": "req-abc"}
    )
    assert response.headers["x-request-id"] == "req-abc"
    formatter = JsonFormatter()
    lines = [json.loads(formatter.format(record)) for record in caplog.records]
    request_lines = [line for line in lines if line.get("request_id") == "req-abc"]
    assert any(
        line.get("company_id") == tenant.id and line.get("path", "").endswith("/messages") for line in request_lines
    )
    everything = "\n".join(json.dumps(line) for line in lines)
    assert "4111 1111" not in everything
    assert tenant.key not in everything
