"""Documents through the API on the real stack: every format to `ready` with progress, bad input
refused at once or failed with a reason, duplicates, replacement, deletion, search."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Api, Tenant
from tests.ingestion import samples
from tests.knowledge_api.support import ingest, search, upload_file, wait_done

FORMATS = [
    ("help.pdf", samples.help_center_pdf, "application/pdf", "Refunds are issued to the original payment method"),
    ("account.docx", samples.help_center_docx, "application/octet-stream", "change your email address"),
    ("help.html", lambda: samples.HELP_CENTER_HTML.encode(), "text/html", "bill your card on the first day"),
    ("guide.md", lambda: samples.HELP_CENTER_MD.encode(), "text/markdown", "restart your computer"),
    ("notes.txt", lambda: b"Our office cat is called Biscuit and sleeps on the printer.", "text/plain", "Biscuit"),
    ("faq.csv", lambda: samples.FAQ_CSV, "text/csv", "billing page"),
    ("faq.json", lambda: samples.FAQ_JSON, "application/json", "sign in page"),
]


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("name", "make", "content_type", "phrase"), FORMATS, ids=[f[0] for f in FORMATS])
async def test_every_format_is_ingested_to_ready_and_searchable(
    api: Api, tenant: Tenant, name: str, make, content_type: str, phrase: str
) -> None:
    response = await upload_file(tenant, name, make(), content_type)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    document_id = response.json()["id"]
    body = await wait_done(tenant, document_id)
    assert body["status"] == "ready", body
    assert body["progress"]["chunks_total"] >= 1
    assert body["progress"]["chunks_done"] == body["progress"]["chunks_total"]
    assert body["error"] is None
    # The workflow's progress query and the database row agree.
    handle = api.runtime.temporal.get_workflow_handle(f"ingest-{document_id}-v1")
    progress = await handle.query("progress")
    assert progress == {"status": "ready", **body["progress"]}
    results = await search(tenant, phrase)
    assert results and results[0]["document_id"] == document_id
    assert phrase.lower() in " ".join(r["text"] for r in results).lower()
    assert results[0]["source"] == name


async def test_text_and_faq_json_bodies_are_ingested(tenant: Tenant) -> None:
    text = await ingest(tenant, text="Parcels to Iceland travel by boat and take twelve days.", title="Shipping")
    faq = await ingest(tenant, faq=[{"question": "Do you ship to Iceland?", "answer": "Yes, by boat, in twelve days."}])
    assert text["status"] == faq["status"] == "ready"
    assert text["title"] == "Shipping" and faq["title"] == "FAQ"
    hits = await search(tenant, "how long to Iceland")
    assert {h["document_id"] for h in hits} == {text["id"], faq["id"]}
    faq_hit = next(h for h in hits if h["document_id"] == faq["id"])
    assert faq_hit["section"] == "Do you ship to Iceland?"


@pytest.mark.parametrize(
    ("name", "data", "status", "code"),
    [
        ("empty.txt", b"   \n", 422, "empty_document"),
        ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, 415, "unsupported_type"),
        ("slides.pptx", b"PK\x03\x04 not really", 415, "unsupported_type"),
        ("program.bin", b"\x7fELF\x02\x01\x01" + b"\x00" * 64, 415, "unsupported_type"),
    ],
)
async def test_bad_uploads_are_refused_at_once_and_nothing_is_written(
    tenant: Tenant, name: str, data: bytes, status: int, code: str
) -> None:
    response = await upload_file(tenant, name, data)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert (await tenant.client.get("/v1/documents")).json()["items"] == []


async def test_an_upload_over_the_limit_is_413_before_anything_is_stored(api: Api, tenant: Tenant) -> None:
    too_big = b"a" * (api.settings.max_upload_bytes + 1)
    response = await upload_file(tenant, "huge.txt", too_big, "text/plain")
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"
    # A JSON body on another route keeps the small limit.
    conversation = await tenant.client.post(
        "/v1/conversations", json={"user_id": "x" * (api.settings.max_body_bytes + 10)}
    )
    assert conversation.status_code == 413
    assert (await tenant.client.get("/v1/documents")).json()["items"] == []


@pytest.mark.timeout(300)
async def test_an_encrypted_pdf_fails_with_a_reason_the_user_can_act_on(tenant: Tenant) -> None:
    locked = samples.encrypt_pdf(samples.help_center_pdf(), "secret")
    response = await upload_file(tenant, "locked.pdf", locked, "application/pdf")
    assert response.status_code == 202
    body = await wait_done(tenant, response.json()["id"])
    assert body["status"] == "failed"
    assert body["error"]["code"] == "encrypted_pdf"
    assert "password" in body["error"]["message"].lower()


@pytest.mark.timeout(300)
async def test_a_corrupt_docx_fails_with_its_code(tenant: Tenant) -> None:
    response = await upload_file(tenant, "broken.docx", samples.zip_of({"hello.txt": b"not word"}))
    assert response.status_code == 202, response.text
    body = await wait_done(tenant, response.json()["id"])
    assert (body["status"], body["error"]["code"]) == ("failed", "corrupt_file")


async def test_uploading_identical_content_again_is_a_no_op(tenant: Tenant) -> None:
    first = await ingest(tenant, text="The loyalty programme gives one point per euro spent.", title="Loyalty")
    again = await tenant.client.post(
        "/v1/documents", json={"text": "The loyalty programme gives one point per euro spent.", "title": "Loyalty"}
    )
    assert again.status_code == 200
    assert again.json() == {"id": first["id"], "status": "ready", "duplicate": True}
    listed = (await tenant.client.get("/v1/documents")).json()["items"]
    assert [d["id"] for d in listed] == [first["id"]]
    assert listed[0]["version"] == 1


async def test_a_changed_document_replaces_its_chunks(tenant: Tenant) -> None:
    old = await ingest(tenant, text="Returns are accepted within 14 days of delivery.", title="Returns policy")
    assert (await search(tenant, "returns accepted within days"))[0]["text"].startswith(
        "Returns are accepted within 14"
    )
    new = await ingest(
        tenant, text="Returns are accepted within 60 days of delivery, free of charge.", title="Returns policy"
    )
    assert new["id"] == old["id"] and new["version"] == 2
    hits = await search(tenant, "returns accepted within days")
    texts = [h["text"] for h in hits]
    assert any("60 days" in t for t in texts)
    assert not any("14 days" in t for t in texts)
    assert len((await tenant.client.get("/v1/documents")).json()["items"]) == 1


async def test_delete_removes_the_document_from_search_and_listing(api: Api, tenant: Tenant) -> None:
    doc = await ingest(tenant, text="The secret lounge password is marmalade.", title="Lounge")
    assert await search(tenant, "lounge password marmalade")
    response = await tenant.client.delete(f"/v1/documents/{doc['id']}")
    assert response.status_code == 204
    assert await search(tenant, "lounge password marmalade") == []
    assert (await tenant.client.get(f"/v1/documents/{doc['id']}")).status_code == 404
    assert await api.runtime.search_index.count(tenant.id) == 0
    assert (await tenant.client.delete(f"/v1/documents/{doc['id']}")).status_code == 404


async def test_listing_filters_and_paginates(tenant: Tenant) -> None:
    made = [
        (await ingest(tenant, text=f"Page number {n} about nothing in particular.", title=f"p{n}"))["id"]
        for n in range(3)
    ]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await tenant.client.get("/v1/documents", params=params)).json()
        assert page["company_id"] == tenant.id
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    assert (await tenant.client.get("/v1/documents", params={"status": "failed"})).json()["items"] == []


async def test_search_input_is_validated(tenant: Tenant) -> None:
    assert (await tenant.client.post("/v1/search", json={"query": ""})).status_code == 422
    bad_filter = await tenant.client.post("/v1/search", json={"query": "x", "filters": {"colour": "red"}})
    assert (bad_filter.status_code, bad_filter.json()["code"]) == (422, "invalid_filter")
    assert (await tenant.client.post("/v1/search", json={"query": "x", "top_k": 500})).status_code == 422
    assert (await tenant.client.post("/v1/documents", json={"text": "a", "url": "https://x.y"})).status_code == 422
    bad_json = await tenant.client.post("/v1/documents", content=b"{nope", headers={"content-type": "application/json"})
    assert (bad_json.status_code, bad_json.json()["code"]) == (400, "invalid_json")
    private = await tenant.client.post("/v1/documents", json={"url": "ftp://example.com/x"})
    assert (private.status_code, private.json()["code"]) == (422, "url_invalid")


async def test_search_filters_by_document(tenant: Tenant) -> None:
    a = await ingest(tenant, text="Gift cards never expire.", title="Gift cards")
    b = await ingest(tenant, text="Gift wrapping costs two euros.", title="Wrapping")
    hits = await search(tenant, "gift", filters={"document_id": b["id"]})
    assert {h["document_id"] for h in hits} == {b["id"]}
    assert a["id"] != b["id"]


async def test_reindex_rebuilds_the_index_from_postgres(api: Api, tenant: Tenant) -> None:
    doc = await ingest(tenant, text="Our warehouse is in Rotterdam near the port.", title="Warehouse")
    await api.runtime.search_index.delete_company(tenant.id)  # lose the index entirely
    assert await search(tenant, "where is the warehouse", top_k=3) == []
    response = await tenant.client.post("/v1/knowledge/reindex")
    assert response.status_code == 202
    rebuilt = await api.runtime.temporal.get_workflow_handle(response.json()["workflow_id"]).result()
    assert rebuilt == 1
    hits = await search(tenant, "warehouse Rotterdam")
    assert hits[0]["document_id"] == doc["id"]
    assert uuid.UUID(hits[0]["chunk_id"])
