"""SSRF: webhook URLs that resolve to private, loopback, link-local (cloud metadata) or other
non-public addresses are refused with stable codes, at registration and again at delivery.

The session's stack allows private URLs (its receivers live on 127.0.0.1); these tests use a
copy of the settings with `allow_private_urls` off, as production runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from helpdeck.safe_http import SafePoster, UnsafeUrl, address_is_public, check_url
from tests.conftest import Api, Tenant
from tests.webhooks.receiver import Receiver

REFUSED = [
    ("https://10.1.2.3/hook", "webhook_url_forbidden"),
    ("https://127.0.0.1/hook", "webhook_url_forbidden"),
    ("https://169.254.169.254/latest/meta-data/", "webhook_url_forbidden"),
    ("https://[::1]/hook", "webhook_url_forbidden"),
    ("https://[::ffff:127.0.0.1]/hook", "webhook_url_forbidden"),
    ("https://[fd00:ec2::254]/hook", "webhook_url_forbidden"),
    ("https://100.100.100.200/hook", "webhook_url_forbidden"),
    ("https://0.0.0.0/hook", "webhook_url_forbidden"),
    ("https://localhost/hook", "webhook_url_forbidden"),  # a name that resolves to loopback
    ("http://203.0.113.10/hook", "webhook_url_not_https"),
    ("ftp://example.com/hook", "webhook_url_invalid"),
    ("https://user:pw@example.com/hook", "webhook_url_invalid"),
    ("https://no-such-host.invalid/hook", "webhook_url_unresolvable"),
]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server


@pytest.fixture
async def strict_client(api: Api, tenant: Tenant) -> AsyncIterator[httpx.AsyncClient]:
    """The API as production runs it: `allow_private_urls` off (same database, same company)."""
    from api.app import create_app

    strict = api.settings.model_copy(update={"allow_private_urls": False})
    app = create_app(strict)
    app.state.runtime = dataclasses.replace(api.runtime, settings=strict)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://strict",
        headers={"Authorization": f"Bearer {tenant.key}"},
    ) as client:
        yield client


@pytest.mark.parametrize(("url", "code"), REFUSED)
async def test_registration_refuses_unsafe_urls_with_a_stable_code(url: str, code: str) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        await check_url(url, allow_private=False)
    assert refused.value.code == code


async def test_public_addresses_pass_and_development_mode_lifts_both_rules() -> None:
    await check_url("https://93.184.215.14/hook", allow_private=False)
    await check_url("http://127.0.0.1:8080/hook", allow_private=True)
    await check_url("http://localhost/hook", allow_private=True)
    assert address_is_public("8.8.8.8") and address_is_public("2606:4700::1111")
    assert not any(
        address_is_public(a)
        for a in ("10.0.0.1", "172.16.0.1", "192.168.1.1", "127.0.0.1", "169.254.169.254", "::1", "fe80::1",
                  "224.0.0.1", "240.0.0.1", "100.64.0.1", "192.0.0.192", "::ffff:10.0.0.1", "fd00:ec2::254")
    )


async def test_the_api_refuses_unsafe_urls_and_writes_nothing(strict_client: httpx.AsyncClient) -> None:
    for url, code in REFUSED:
        response = await strict_client.post("/v1/webhooks", json={"url": url, "events": ["message.created"]})
        assert response.status_code == 422, (url, response.text)
        assert response.json()["code"] == code, url
    assert (await strict_client.get("/v1/webhooks")).json()["items"] == []


async def test_changing_the_url_to_an_unsafe_one_is_refused_and_keeps_the_old_one(
    tenant: Tenant, strict_client: httpx.AsyncClient
) -> None:
    made = await tenant.client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/dev", "events": ["document.ready"]}
    )
    hook_id = made.json()["id"]
    response = await strict_client.patch(f"/v1/webhooks/{hook_id}", json={"url": "https://169.254.169.254/"})
    assert response.status_code == 422 and response.json()["code"] == "webhook_url_forbidden"
    assert (await strict_client.get(f"/v1/webhooks/{hook_id}")).json()["url"] == "http://127.0.0.1:9/dev"


async def test_delivery_checks_the_address_again_and_never_connects_to_a_private_one(receiver: Receiver) -> None:
    """A URL that passed registration but whose name now resolves to loopback (DNS rebinding)
    is refused at delivery, before any connection: the receiver sees nothing."""
    strict = SafePoster(allow_private=False)
    try:
        for url in (f"https://localhost:{receiver.port}/hook", f"https://127.0.0.1:{receiver.port}/hook"):
            outcome = await strict.post(url, {"content-type": "application/json"}, b"{}")
            assert outcome.status_code is None and outcome.error.startswith("refused"), outcome
        plain = await strict.post(f"http://localhost:{receiver.port}/hook", {}, b"{}")
        assert plain.error == "refused: webhook URLs must use https"
    finally:
        await strict.aclose()
    assert receiver.requests == []


async def test_delivery_keeps_the_name_in_the_host_header_while_connecting_to_the_checked_address(
    receiver: Receiver,
) -> None:
    relaxed = SafePoster(allow_private=True)
    try:
        outcome = await relaxed.post(f"http://localhost:{receiver.port}/hook", {"x-test": "1"}, b"{}")
    finally:
        await relaxed.aclose()
    assert outcome.status_code == 200
    assert receiver.requests[0].headers["host"] == f"localhost:{receiver.port}"


def test_allowing_private_urls_is_announced_as_a_warning_once(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    from helpdeck.services import webhook_runner

    webhook_runner._announced = False
    with caplog.at_level("WARNING", logger="helpdeck.services.webhook_runner"):
        webhook_runner.announce_private_urls(api.settings.model_copy(update={"allow_private_urls": False}))
        assert caplog.records == []
        webhook_runner.announce_private_urls(api.settings)
        webhook_runner.announce_private_urls(api.settings)
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "HELPDECK_ALLOW_PRIVATE_URLS" in caplog.records[0].getMessage()
