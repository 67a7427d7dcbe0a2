"""Crawling a site: same origin only, robots.txt respected, page cap, one child ingestion per page."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Api, Tenant
from tests.knowledge_api.site import Site, html
from tests.knowledge_api.support import search, wait_done


def _site(other_origin: str) -> dict[str, tuple[str, bytes]]:
    return {
        "/robots.txt": ("text/plain", b"User-agent: *\nDisallow: /private\n"),
        "/": html(
            "Home",
            "<h1>Acme help</h1><p>Welcome to Acme support pages.</p>"
            '<a href="/shipping">Shipping</a> <a href="/returns#top">Returns</a> '
            f'<a href="/private/salaries">Salaries</a> <a href="{other_origin}/elsewhere">Elsewhere</a>',
        ),
        "/shipping": html("Shipping", "<h1>Shipping</h1><p>Acme parcels reach Norway in four days.</p>"),
        "/returns": html("Returns", '<h1>Returns</h1><p>Acme accepts returns for 45 days.</p><a href="/">Home</a>'),
        "/private/salaries": html("Salaries", "<p>Confidential salaries.</p>"),
        "/sitemap.xml": (
            "application/xml",
            b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            b"<url><loc>BASE/shipping</loc></url><url><loc>BASE/private/salaries</loc></url></urlset>",
        ),
    }


async def _crawl(api: Api, tenant: Tenant, **body: object) -> dict:
    response = await tenant.client.post("/v1/sources", json=body)
    assert response.status_code == 202, response.text
    source = response.json()
    result = await api.runtime.temporal.get_workflow_handle(f"crawl-{source['id']}").result()
    assert result is not None
    for _ in range(40):
        state = (await tenant.client.get(f"/v1/sources/{source['id']}")).json()
        if state["status"] != "crawling":
            return state
        await asyncio.sleep(0.25)
    raise AssertionError(state)


@pytest.mark.timeout(600)
async def test_a_crawl_ingests_same_origin_pages_that_robots_allow(api: Api, tenant: Tenant) -> None:
    with Site({}) as elsewhere, Site({}) as site:
        site.pages.update(_site(elsewhere.url))
        elsewhere.pages["/elsewhere"] = html("Elsewhere", "<p>Another site entirely.</p>")
        state = await _crawl(api, tenant, url=site.url + "/")
        assert (state["status"], state["pages_found"], state["pages_done"], state["pages_failed"]) == ("done", 3, 3, 0)
        assert "/private/salaries" not in site.requests
        assert elsewhere.requests == []
    documents = (await tenant.client.get("/v1/documents", params={"source_id": state["id"]})).json()["items"]
    assert sorted(d["source"] for d in documents) == sorted(site.url + p for p in ("/", "/shipping", "/returns"))
    assert {d["status"] for d in documents} == {"ready"}
    assert {d["title"] for d in documents} == {"Home", "Shipping", "Returns"}
    hits = await search(tenant, "how long do parcels take to Norway")
    assert hits[0]["source"] == site.url + "/shipping"


@pytest.mark.timeout(600)
async def test_a_sitemap_crawl_respects_the_page_cap_and_robots(api: Api, tenant: Tenant) -> None:
    with Site({}) as site:
        pages = _site("http://127.0.0.1:9")
        pages["/sitemap.xml"] = (pages["/sitemap.xml"][0], pages["/sitemap.xml"][1].replace(b"BASE", site.url.encode()))
        site.pages.update(pages)
        state = await _crawl(api, tenant, sitemap=site.url + "/sitemap.xml", max_pages=1)
        assert (state["status"], state["pages_found"], state["pages_done"]) == ("done", 1, 1)
        assert "/private/salaries" not in site.requests


async def test_a_single_url_document_is_fetched_and_ingested(tenant: Tenant) -> None:
    with Site({"/faq": html("FAQ", "<h2>Opening hours</h2><p>The Acme shop opens at nine.</p>")}) as site:
        response = await tenant.client.post("/v1/documents", json={"url": site.url + "/faq"})
        assert response.status_code == 202, response.text
        body = await wait_done(tenant, response.json()["id"])
    assert body["status"] == "ready", body
    assert body["source"] == body["url"] == site.url + "/faq"


async def test_a_dead_url_fails_with_a_reason(tenant: Tenant) -> None:
    with Site({}) as site:
        response = await tenant.client.post("/v1/documents", json={"url": site.url + "/gone"})
        body = await wait_done(tenant, response.json()["id"])
    assert (body["status"], body["error"]["code"]) == ("failed", "fetch_failed")
    assert "404" in body["error"]["message"]


async def test_private_addresses_are_refused_unless_allowed(api: Api, tenant: Tenant) -> None:
    from helpdeck.web_fetch import check_public_url

    assert await check_public_url("http://127.0.0.1:1/x", allow_private=True) == "http://127.0.0.1:1/x"
    with pytest.raises(Exception) as refused:
        await check_public_url("http://127.0.0.1:1/x", allow_private=False)
    assert getattr(refused.value, "code", "") == "url_forbidden"
    with pytest.raises(Exception) as metadata:
        await check_public_url("http://169.254.169.254/latest/meta-data", allow_private=False)
    assert getattr(metadata.value, "code", "") == "url_forbidden"


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.timeout(300)
async def test_a_crawl_whose_robots_txt_answers_503_fails_saying_so(api: Api, tenant: Tenant) -> None:
    with Site({"/": html("Home", "<p>Welcome.</p>")}, statuses={"/robots.txt": 503}) as site:
        state = await _crawl(api, tenant, url=site.url + "/")
        assert site.requests == ["/robots.txt"]  # not a single page fetched
    assert (state["status"], state["pages_found"]) == ("failed", 0)
    assert "robots.txt could not be read" in state["error"] and "HTTP 503" in state["error"], state


@pytest.mark.timeout(300)
async def test_a_crawl_of_an_unreachable_host_fails_with_a_reason(api: Api, tenant: Tenant) -> None:
    state = await _crawl(api, tenant, url=f"http://127.0.0.1:{_closed_port()}/")
    assert state["status"] == "failed", state
    assert "did not start" in state["error"] and "reachable" in state["error"], state


@pytest.mark.timeout(300)
async def test_a_sitemap_that_is_not_xml_fails_with_a_reason(api: Api, tenant: Tenant) -> None:
    with Site({"/sitemap.xml": html("Oops", "<p>Not a sitemap<br></p>")}) as site:
        state = await _crawl(api, tenant, sitemap=site.url + "/sitemap.xml")
    assert (state["status"], state["pages_found"]) == ("failed", 0)
    assert "not valid XML" in state["error"], state


@pytest.mark.timeout(300)
async def test_a_sitemap_listing_no_allowed_page_fails_instead_of_finishing_empty(api: Api, tenant: Tenant) -> None:
    with Site({}) as site:
        site.pages["/robots.txt"] = ("text/plain", b"User-agent: *\nDisallow: /private\n")
        site.pages["/sitemap.xml"] = (
            "application/xml",
            f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc>{site.url}/private/a</loc></url>'
            "<url><loc>http://127.0.0.1:9/elsewhere</loc></url></urlset>".encode(),
        )
        state = await _crawl(api, tenant, sitemap=site.url + "/sitemap.xml")
    assert state["status"] == "failed", state
    assert "lists no page" in state["error"] and "2 listed" in state["error"], state
