"""Parsing uploads offline: every supported format, pages, sections, and typed errors.

These tests need the parsing stack (`scripts/install_parsing_deps.sh`); they fail, not skip,
when it is missing, so a machine without it cannot pass CI by accident.
"""

from __future__ import annotations

import codecs
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ingestion import parse
from ingestion.parse import (
    CorruptFileError,
    EmptyDocumentError,
    EncryptedPdfError,
    ParseError,
    ParserNotInstalledError,
    TooLargeError,
    UnsupportedTypeError,
    detect_kind,
    parse_document,
)
from tests.ingestion import samples

REPO = Path(__file__).resolve().parents[2]


def _texts(elements: list[parse.ParsedElement]) -> list[str]:
    return [e.text for e in elements]


def _find(elements: list[parse.ParsedElement], fragment: str) -> parse.ParsedElement:
    matches = [e for e in elements if fragment in e.text]
    assert matches, f"{fragment!r} not in {_texts(elements)}"
    return matches[0]


# --- detection ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "content_type", "data", "kind"),
    [
        ("guide.pdf", None, b"%PDF-1.7 ...", "pdf"),
        ("upload.bin", "application/octet-stream", b"%PDF-1.4\n", "pdf"),  # signature wins
        ("notes.txt", "text/plain", b"%PDF-1.4\n", "pdf"),
        ("notes.md", None, b"# PDF headers\n\nA PDF starts with %PDF-1.7.", "markdown"),
        ("junk-first.pdf", None, b"\x00garbage\n%PDF-1.4\n", "pdf"),
        ("page.HTML", None, b"<p>hi</p>", "html"),
        ("page", "text/html; charset=utf-8", b"<p>hi</p>", "html"),
        ("index", None, b"<!DOCTYPE html><html></html>", "html"),
        ("README.md", None, b"# Title", "markdown"),
        ("notes", "text/markdown", b"# Title", "markdown"),
        ("notes.txt", None, b"plain words", "text"),
        ("notes", None, b"plain words", "text"),
        ("faq.csv", None, b"q,a\n", "csv"),
        ("faq.tsv", None, b"q\ta\n", "csv"),
        ("faq.json", None, b"[]", "faq_json"),
        ("faq", "application/json", b"[]", "faq_json"),
        ("letter.docx", None, None, "docx"),
    ],
)
def test_detect_kind(
    filename: str, content_type: str | None, data: bytes | None, kind: str
) -> None:
    if data is None and kind == "docx":
        data = samples.help_center_docx()
    assert detect_kind(filename, content_type, data) == kind


def test_detect_kind_without_data_uses_name_then_type() -> None:
    assert detect_kind("a.pdf") == "pdf"
    assert detect_kind("upload", "application/pdf") == "pdf"
    assert detect_kind("a.md", "text/plain") == "markdown"


@pytest.mark.parametrize(
    ("filename", "content_type", "data"),
    [
        ("slides.pptx", None, b"whatever"),
        ("sheet.xlsx", None, None),
        ("old.doc", None, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64),
        ("photo.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),
        ("photo.txt", None, b"\x89PNG\r\n\x1a\n" + b"\x00" * 64),  # the bytes say image
        ("archive.zip", None, samples.zip_of({"a.txt": b"hello"})),
        ("blob", "application/octet-stream", b"\x00\x01\x02\x03"),
        ("blob", None, b"\x00\x01\x02\x03"),
    ],
)
def test_unsupported_types(filename: str, content_type: str | None, data: bytes | None) -> None:
    with pytest.raises(UnsupportedTypeError) as info:
        parse_document(data or b"", filename, content_type)
    assert info.value.code == "unsupported_type"
    assert info.value.status == 415
    assert "Supported formats" in info.value.message


# --- PDF ----------------------------------------------------------------------------------


def test_pdf_pages_and_sections() -> None:
    elements = parse_document(samples.help_center_pdf(), "help.pdf", "application/pdf")

    returns = _find(elements, "thirty days")
    assert (returns.page, returns.section, returns.kind) == (1, "Returns Policy", "text")
    title = _find(elements, "Shipping Times")
    assert (title.kind, title.page, title.section) == ("title", 2, "Shipping Times")
    express = _find(elements, "Express shipping")
    assert (express.page, express.section) == (2, "Shipping Times")
    # Page 3 has no heading: it stays in the section that page 2 opened.
    warranty = _find(elements, "two year warranty")
    assert (warranty.page, warranty.section) == (3, "Shipping Times")
    assert {e.page for e in elements} == {1, 2, 3}
    assert [e.page for e in elements] == sorted(e.page or 0 for e in elements)


def test_pdf_with_owner_password_only_still_parses() -> None:
    data = samples.encrypt_pdf(samples.help_center_pdf(), user_password="", algorithm="RC4-128")
    elements = parse_document(data, "restricted.pdf", None)
    assert _find(elements, "Express shipping").page == 2


@pytest.mark.parametrize("algorithm", ["AES-256", "RC4-128"])
def test_encrypted_pdf(algorithm: str) -> None:
    data = samples.encrypt_pdf(samples.help_center_pdf(), "secret", algorithm)
    with pytest.raises(EncryptedPdfError) as info:
        parse_document(data, "locked.pdf", "application/pdf")
    assert info.value.code == "encrypted_pdf"
    assert "password" in info.value.message


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(lambda d: d[: len(d) // 2], id="truncated-half"),
        pytest.param(lambda d: d[:300], id="truncated-head"),
        pytest.param(lambda d: d[:9] + bytes(range(256)) * 4, id="garbage-after-header"),
        pytest.param(lambda d: b"This is not a PDF at all.", id="not-a-pdf"),
    ],
)
def test_corrupt_pdf(mangle) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CorruptFileError) as info:
        parse_document(mangle(samples.help_center_pdf()), "broken.pdf", "application/pdf")
    assert info.value.code == "corrupt_file"


def test_pdf_without_text_is_empty() -> None:
    with pytest.raises(EmptyDocumentError) as info:
        parse_document(samples.make_pdf([[], []]), "scan.pdf", None)
    assert info.value.code == "empty_document"
    assert "OCR" in info.value.message


# --- DOCX ---------------------------------------------------------------------------------


def test_docx_headings_lists_and_tables() -> None:
    elements = parse_document(samples.help_center_docx(), "help.docx", None)

    assert _find(elements, "email address").section == "Account Help"
    assert _find(elements, "Passwords").kind == "title"
    bullet = _find(elements, "reset button")
    assert (bullet.kind, bullet.section) == ("list", "Passwords")
    table = _find(elements, "Plan")
    assert table.kind == "table"
    assert table.text.splitlines() == ["Plan | Price", "Pro | 20"]
    assert table.section == "Billing"
    assert _find(elements, "Invoices").section == "Billing"
    assert all(e.page is None for e in elements)  # no rendered page breaks in this file


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        pytest.param(samples.help_center_docx()[:2000], "cut.docx", id="truncated"),
        pytest.param(samples.zip_of({"a.txt": b"hello"}), "fake.docx", id="zip-not-docx"),
        pytest.param(b"not a zip at all", "plain.docx", id="not-a-zip"),
        pytest.param(
            samples.zip_of(
                {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document"}
            ),
            "broken-xml.docx",
            id="broken-xml",
        ),
    ],
)
def test_corrupt_docx(data: bytes, filename: str) -> None:
    with pytest.raises(CorruptFileError) as info:
        parse_document(data, filename, None)
    assert info.value.code == "corrupt_file"


def test_empty_docx() -> None:
    with pytest.raises(EmptyDocumentError):
        parse_document(samples.empty_docx(), "blank.docx", None)


def test_docx_zip_bomb_is_too_large() -> None:
    bomb = samples.zip_of(
        {
            "[Content_Types].xml": b"<Types/>",
            "word/document.xml": b"<w:document/>",
            "word/media/filler.bin": b"\x00" * 3_000_000,
        }
    )
    assert len(bomb) < 100_000
    with pytest.raises(TooLargeError):
        parse_document(bomb, "bomb.docx", None, max_bytes=100_000)


# --- HTML, Markdown, text -----------------------------------------------------------------


def test_html_headings_become_sections() -> None:
    elements = parse_document(samples.HELP_CENTER_HTML.encode(), "help.html", "text/html")

    assert [e.text for e in elements if e.kind == "title"] == [
        "Help Center",
        "Billing",
        "Refunds",
    ]
    assert _find(elements, "Welcome").section == "Help Center"
    assert _find(elements, "first day").section == "Billing"
    visa = _find(elements, "Visa")
    assert (visa.kind, visa.section) == ("list", "Billing")
    table = _find(elements, "Basic")
    assert table.kind == "table"
    assert table.text.splitlines() == ["Plan | Price", "Basic | 10 EUR"]
    assert _find(elements, "five business days").section == "Refunds"
    assert all(e.page is None for e in elements)
    assert "Help" not in [e.text for e in elements]  # <title> is not body text


def test_html_in_a_legacy_encoding() -> None:
    html = "<h1>Änderungen</h1><p>Die Rückgabe ist innerhalb von dreißig Tagen möglich.</p>"
    elements = parse_document(html.encode("cp1252"), "de.html", None)
    assert _find(elements, "Rückgabe").section == "Änderungen"


def test_markdown() -> None:
    elements = parse_document(samples.HELP_CENTER_MD.encode(), "guide.md", None)

    assert _find(elements, "invite your team").section == "Getting Started"
    step = _find(elements, "Download the desktop app")
    assert (step.kind, step.section) == ("list", "Installation")
    assert _find(elements, "restart your computer").section == "Troubleshooting"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16"])
def test_plain_text(encoding: str) -> None:
    text = "Opening Hours\n\nOur support team answers calls from nine to five on weekdays.\n"
    elements = parse_document(text.encode(encoding), "hours.txt", "text/plain")
    hours = _find(elements, "support team")
    assert hours.section == "Opening Hours"
    assert not hours.text.startswith(codecs.BOM_UTF8.decode("utf-8"))


@pytest.mark.parametrize(
    ("data", "filename"),
    [
        (b"", "empty.txt"),
        (b"   \n\n\t ", "blank.txt"),
        (b"", "empty.pdf"),
        (b"<html><body>   </body></html>", "blank.html"),
        (b"", "empty.md"),
        (b"question,answer\n", "faq.csv"),
        (b"[]", "faq.json"),
        (b'{"faq": []}', "faq.json"),
    ],
)
def test_empty_documents(data: bytes, filename: str) -> None:
    with pytest.raises(EmptyDocumentError) as info:
        parse_document(data, filename, None)
    assert info.value.code == "empty_document"
    assert info.value.status == 422


# --- CSV and JSON FAQ ---------------------------------------------------------------------


def _assert_faq(elements: list[parse.ParsedElement], answers: list[str]) -> None:
    assert [e.section for e in elements] == [item["question"] for item in samples.FAQ_ITEMS]
    for element, answer in zip(elements, answers, strict=True):
        assert element.kind == "text"
        assert element.text == f"{element.section}\n{answer}"
        assert element.page is None


def test_csv_faq_rows() -> None:
    elements = parse_document(samples.FAQ_CSV, "faq.csv", "text/csv")
    _assert_faq(
        elements, ["Use the link on the sign in page.", "Yes, from the billing page, at any time."]
    )


def test_csv_faq_with_semicolons_and_bom() -> None:
    data = codecs.BOM_UTF8 + (
        b"question;answer\nHow do I reset my password?;Use the link on the sign in page.\n"
        b"Can I change my plan?;Yes, from the billing page at any time.\n"
    )
    elements = parse_document(data, "faq.csv", None)
    _assert_faq(elements, [item["answer"] for item in samples.FAQ_ITEMS])


def test_csv_without_faq_columns_is_one_labelled_table() -> None:
    data = b"Plan,Price,Seats\nBasic,10,1\nPro,20,5\n"
    (table,) = parse_document(data, "plans.csv", None)
    assert table.kind == "table"
    assert table.text.splitlines() == [
        "Plan: Basic; Price: 10; Seats: 1",
        "Plan: Pro; Price: 20; Seats: 5",
    ]


def test_json_faq_list_and_object() -> None:
    answers = [item["answer"] for item in samples.FAQ_ITEMS]
    _assert_faq(parse_document(samples.FAQ_JSON, "faq.json", None), answers)
    wrapped = json.dumps({"faq": samples.FAQ_ITEMS}).encode()
    _assert_faq(parse_document(wrapped, "faq.json", "application/json"), answers)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b'[{"question": "Q?", "answer": ', CorruptFileError),
        (b'[{"question": "Q?"}]', CorruptFileError),
        (b'["just a string"]', CorruptFileError),
        (b'{"products": [1, 2]}', UnsupportedTypeError),
        (b"42", UnsupportedTypeError),
    ],
)
def test_bad_json_faq(data: bytes, error: type[ParseError]) -> None:
    with pytest.raises(error):
        parse_document(data, "faq.json", None)


# --- limits and error shape ---------------------------------------------------------------


@pytest.mark.parametrize("filename", ["big.pdf", "big.txt", "big.exe"])
def test_too_large(filename: str) -> None:
    data = b"%PDF-1.4\n" + b"x" * 2048
    with pytest.raises(TooLargeError) as info:
        parse_document(data, filename, None, max_bytes=1024)
    assert info.value.code == "too_large"
    assert info.value.status == 413
    assert "1.0 KiB" in info.value.message
    # The same bytes under a larger limit get past the size check.
    with pytest.raises(ParseError) as other:
        parse_document(data, filename, None, max_bytes=None)
    assert other.value.code != "too_large"


def test_error_codes_are_stable() -> None:
    assert {
        cls.code
        for cls in (
            UnsupportedTypeError,
            EncryptedPdfError,
            EmptyDocumentError,
            TooLargeError,
            CorruptFileError,
        )
    } == {"unsupported_type", "encrypted_pdf", "empty_document", "too_large", "corrupt_file"}


def test_missing_spacy_model_is_an_operator_error_not_a_download(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_find_spec = parse.importlib.util.find_spec

    def find_spec(name: str, *args: object) -> object:
        return None if name == "en_core_web_sm" else real_find_spec(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(parse, "_checked_model", False)
    monkeypatch.setattr(parse.importlib.util, "find_spec", find_spec)
    with pytest.raises(ParserNotInstalledError, match="install_parsing_deps"):
        parse_document(b"Some words to classify.", "a.txt", None)


# --- offline ------------------------------------------------------------------------------

_OFFLINE_SCRIPT = textwrap.dedent(
    """
    import json, sys

    events = []

    def audit(event, args):
        if event == "socket.connect":
            events.append(f"connect {args[1]!r}")
        elif event == "subprocess.Popen":
            events.append(f"exec {args[0]!r}")
        elif event == "urllib.Request":
            events.append(f"url {args[0]}")

    sys.addaudithook(audit)

    from ingestion.parse import parse_document

    results = {}
    for path in sys.argv[1:]:
        with open(path, "rb") as f:
            elements = parse_document(f.read(), path.rsplit("/", 1)[-1], None)
        results[path.rsplit("/", 1)[-1]] = [[e.kind, e.page, e.section] for e in elements]
    print(json.dumps({"results": results, "events": events}))
    """
)


def _offline_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DO_NOT_TRACK", "SCARF_NO_ANALYTICS", "UNSTRUCTURED_DISABLE_NOTICE")
        and not k.startswith("HF_")
    }
    dead = "http://127.0.0.1:9"  # discard port: nothing listens, so any request fails at once
    for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        env[key] = dead
    env.pop("NO_PROXY", None)
    env.pop("no_proxy", None)
    env["PYTHONPATH"] = str(REPO)
    return env


def _write_samples(tmp_path: Path) -> list[str]:
    files = {
        "help.pdf": samples.help_center_pdf(),
        "help.docx": samples.help_center_docx(),
        "help.html": samples.HELP_CENTER_HTML.encode(),
        "guide.md": samples.HELP_CENTER_MD.encode(),
        "hours.txt": b"Opening Hours\n\nWe answer calls from nine to five on weekdays.\n",
        "faq.csv": samples.FAQ_CSV,
        "faq.json": samples.FAQ_JSON,
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return [str(tmp_path / name) for name in files]


def _unshare_works() -> bool:
    if not shutil.which("unshare"):
        return False
    try:
        return (
            subprocess.run(["unshare", "-n", "true"], capture_output=True, timeout=10).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def test_parsing_never_touches_the_network(tmp_path: Path) -> None:
    """A fresh process, telemetry variables unset, proxies pointing at a dead loopback port and,
    where `unshare` is permitted, no network interface at all: every format still parses, and
    Python's audit hooks see no socket connection and no subprocess (`nvidia-smi`)."""
    command = [sys.executable, "-c", _OFFLINE_SCRIPT, *_write_samples(tmp_path)]
    if _unshare_works():
        command = ["unshare", "-n", *command]
    done = subprocess.run(
        command, env=_offline_env(), cwd=tmp_path, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["events"] == []
    results = report["results"]
    assert set(results) == {
        "help.pdf",
        "help.docx",
        "help.html",
        "guide.md",
        "hours.txt",
        "faq.csv",
        "faq.json",
    }
    assert {page for _, page, _ in results["help.pdf"]} == {1, 2, 3}
    assert ["title", 2, "Shipping Times"] in results["help.pdf"]
    assert all(results[name] for name in results)
    assert "Thank you for using Unstructured" not in done.stderr


def test_faq_posted_as_json_is_an_faq_whatever_its_title_says() -> None:
    """The API stores FAQ pairs as JSON under the caller's title; "account.html" once made the
    bot quote the raw JSON."""
    body = json.dumps({"faq": [{"question": "How do I log in?", "answer": "Use your email."}]}).encode()
    assert detect_kind("help/account.html", "application/json", body) == "faq_json"
    assert detect_kind("notes.md", "application/json", body) == "faq_json"
