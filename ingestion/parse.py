"""Document parsing: uploaded bytes → `ParsedElement`s in reading order, fully offline.

Supported kinds (see `detect_kind`): PDF (unstructured, strategy "fast": the text layer only,
no OCR, no layout model), HTML, Markdown, DOCX and plain text (unstructured), CSV and JSON FAQs
(standard library). FAQ pairs, and CSV rows with question/answer columns, become one element
each whose `section` is the question and whose text is the question followed by the answer.

Every element carries the nearest heading above it as `section` (title elements carry their
own text) and, for PDFs, its 1-based page number.

A document the user can fix fails with a `ParseError` subclass whose stable `code` is one of
`unsupported_type`, `encrypted_pdf`, `empty_document`, `too_large` or `corrupt_file`; the
message says what to do. `ParserNotInstalledError` is the operator's problem instead (the
offline parsing stack is missing: run `scripts/install_parsing_deps.sh`).

Offline by construction: telemetry is switched off in the environment before unstructured is
imported (no ping, no `nvidia-smi`), Hugging Face is told to stay offline, and unstructured's
fallback that downloads the spaCy model at run time is replaced by an error. unstructured is
imported lazily, on the first document that needs it (~6-9 s for the first call in a process,
as spaCy pulls in torch); call `preload()` at worker start to pay that up front.
"""

from __future__ import annotations

import codecs
import csv
import importlib
import importlib.util
import io
import json
import logging
import os
import re
import threading
import zipfile
from collections.abc import Iterable, Sequence
from html.parser import HTMLParser
from typing import Any, Final, Literal

from ingestion.chunk import ElementKind, ParsedElement

log = logging.getLogger(__name__)

DocumentKind = Literal["pdf", "html", "markdown", "docx", "text", "csv", "faq_json"]
SUPPORTED_KINDS: Final[tuple[str, ...]] = (
    "pdf",
    "html",
    "markdown",
    "docx",
    "text",
    "csv",
    "faq_json",
)

DEFAULT_MAX_BYTES: Final[int] = 25 * 1024 * 1024
# A DOCX is a zip: refuse archives that inflate past this multiple of the byte limit.
MAX_ZIP_EXPANSION: Final[int] = 20

# Forced: any non-empty DO_NOT_TRACK / SCARF_NO_ANALYTICS opts unstructured out of its
# start-up ping (which also runs `nvidia-smi`); the notice is a log line on every process.
_FORCED_ENV: Final[dict[str, str]] = {
    "DO_NOT_TRACK": "1",
    "SCARF_NO_ANALYTICS": "1",
    "UNSTRUCTURED_DISABLE_NOTICE": "1",
}
# Defaults: nothing on the fast path loads from the hub, but if anything ever tried, it
# should fail at once instead of waiting on a network that is not there.
_DEFAULT_ENV: Final[dict[str, str]] = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}

_SPACY_MODEL: Final[str] = "en_core_web_sm"


def _prepare_environment() -> None:
    for key, value in _FORCED_ENV.items():
        os.environ[key] = value
    for key, value in _DEFAULT_ENV.items():
        os.environ.setdefault(key, value)


_prepare_environment()


# --- errors -------------------------------------------------------------------------------


class ParseError(Exception):
    """A document the user can fix. `code` is stable; `status` is the suggested HTTP status."""

    code: str = "parse_error"
    status: int = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnsupportedTypeError(ParseError):
    code = "unsupported_type"
    status = 415


class EncryptedPdfError(ParseError):
    code = "encrypted_pdf"


class EmptyDocumentError(ParseError):
    code = "empty_document"


class TooLargeError(ParseError):
    code = "too_large"
    status = 413


class CorruptFileError(ParseError):
    code = "corrupt_file"


class ParserNotInstalledError(RuntimeError):
    """The offline parsing stack is incomplete on this machine (an operator error, not a 4xx)."""

    code = "parser_not_installed"


# --- kind detection -----------------------------------------------------------------------

_EXTENSIONS: Final[dict[str, DocumentKind]] = {
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".mkd": "markdown",
    ".docx": "docx",
    ".txt": "text",
    ".text": "text",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "faq_json",
}
_CONTENT_TYPES: Final[dict[str, DocumentKind]] = {
    "application/pdf": "pdf",
    "application/x-pdf": "pdf",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "text/plain": "text",
    "text/csv": "csv",
    "application/csv": "csv",
    "text/tab-separated-values": "csv",
    "application/json": "faq_json",
    "text/json": "faq_json",
}
# Names we recognise and refuse, so they are not mistaken for text.
_UNSUPPORTED_EXTENSIONS: Final[frozenset[str]] = frozenset(
    ".doc .dot .xls .xlsx .xlsm .ppt .pptx .odt .ods .odp .rtf .epub .pages .key .numbers "
    ".png .jpg .jpeg .gif .bmp .tif .tiff .webp .heic .svg .mp3 .wav .mp4 .mov .zip .gz .tgz "
    ".tar .7z .rar .exe .dll .bin .msg .eml".split()
)
_BINARY_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Office file (.doc/.xls/.ppt)"),
    (b"\x89PNG\r\n\x1a\n", "an image"),
    (b"\xff\xd8\xff", "an image"),
    (b"GIF87a", "an image"),
    (b"GIF89a", "an image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"{\\rtf", "an RTF document"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\x7fELF", "a program"),
)
_SUPPORTED_HINT: Final[str] = "Supported formats: PDF, DOCX, HTML, Markdown, plain text, CSV and JSON FAQ."


def _extension(filename: str) -> str:
    base = os.path.basename(filename or "").strip().lower()
    _, ext = os.path.splitext(base)
    return ext


def _is_pdf(data: bytes, *, lenient: bool = False) -> bool:
    """A PDF header at the start; anywhere in the first KiB (as readers allow) if `lenient`."""
    if data.lstrip(b"\xef\xbb\xbf\x00\t\r\n ").startswith(b"%PDF-"):
        return True
    return lenient and b"%PDF-" in data[:1024]


def _zip_names(data: bytes) -> list[str] | None:
    if not data.startswith(b"PK"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _looks_textual(data: bytes) -> bool:
    sample = data[:4096]
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    return b"\x00" not in sample


def detect_kind(filename: str, content_type: str | None = None, data: bytes | None = None) -> DocumentKind:
    """Decide how to parse an upload: content signature first, then file name, then type.

    Raises `UnsupportedTypeError` for anything outside `SUPPORTED_KINDS`. A name that promises
    a kind the bytes do not match (a `.pdf` that is no PDF) is still returned as that kind, so
    that parsing reports it as a corrupt file rather than an unsupported one.
    """
    ext = _extension(filename)
    mime = (content_type or "").split(";", 1)[0].strip().lower()

    if data:
        # FAQ pairs posted as JSON are titled freely ("help/account.html"): the body decides.
        if mime == "application/json" and data.lstrip().startswith(b'{"faq":'):
            return "faq_json"
        if _is_pdf(data, lenient=_EXTENSIONS.get(ext) == "pdf" or _CONTENT_TYPES.get(mime) == "pdf"):
            return "pdf"
        names = _zip_names(data)
        if names is not None:
            if "word/document.xml" in names:
                return "docx"
            if ext == ".docx":
                return "docx"  # a zip that is not a Word document: corrupt_file when parsed
            raise UnsupportedTypeError(
                f"{filename or 'The file'} is a zip archive, not a DOCX document. " + _SUPPORTED_HINT
            )
        for magic, what in _BINARY_MAGIC:
            if data.startswith(magic) and _EXTENSIONS.get(ext) not in ("pdf", "docx"):
                raise UnsupportedTypeError(f"{filename or 'The file'} looks like {what}. {_SUPPORTED_HINT}")

    if ext in _EXTENSIONS:
        return _EXTENSIONS[ext]
    if ext in _UNSUPPORTED_EXTENSIONS:
        raise UnsupportedTypeError(f"Files of type {ext} are not supported. {_SUPPORTED_HINT}")
    if mime in _CONTENT_TYPES:
        return _CONTENT_TYPES[mime]

    # No useful name or type: sniff text.
    if data and _looks_textual(data) and (not mime or mime.startswith("text/")):
        head = data[:1024].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
        if head.startswith((b"<!doctype html", b"<html")):
            return "html"
        if head[:1] in (b"[", b"{"):
            return "faq_json"
        return "text"
    what = f"type {mime}" if mime else (f"extension {ext}" if ext else "unknown type")
    raise UnsupportedTypeError(f"Cannot parse a file of {what}. {_SUPPORTED_HINT}")


# --- entry point --------------------------------------------------------------------------


def parse_document(
    data: bytes,
    filename: str,
    content_type: str | None = None,
    *,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
) -> list[ParsedElement]:
    """Parse one uploaded document into elements in reading order.

    `max_bytes` (None: no limit) bounds the upload and, for DOCX, 20 times that the inflated
    archive. Raises a `ParseError` subclass for documents the user can fix.
    """
    if max_bytes is not None and len(data) > max_bytes:
        raise TooLargeError(f"{filename or 'The file'} is {_human(len(data))}; the limit is {_human(max_bytes)}.")
    kind = detect_kind(filename, content_type, data)
    if not data.strip():
        raise EmptyDocumentError(f"{filename or 'The file'} is empty.")

    if kind == "pdf":
        elements = _parse_pdf(data, filename)
    elif kind == "docx":
        elements = _parse_docx(data, filename, max_bytes)
    elif kind == "html":
        elements = _parse_html(_decode_text(data, filename), filename)
    elif kind == "markdown":
        elements = _parse_markdown(_decode_text(data, filename))
    elif kind == "text":
        elements = _parse_text(_decode_text(data, filename))
    elif kind == "csv":
        elements = _parse_csv(_decode_text(data, filename), filename)
    else:
        elements = _parse_faq_json(_decode_text(data, filename), filename)

    elements = [e for e in elements if e.text.strip()]
    if not elements:
        raise EmptyDocumentError(
            f"No text could be extracted from {filename or 'the file'}."
            + (
                " Scanned PDFs need OCR, which is not supported: upload a PDF with a text layer."
                if kind == "pdf"
                else ""
            )
        )
    return elements


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KiB"
    return f"{n / (1024 * 1024):.1f} MiB"


# --- text decoding ------------------------------------------------------------------------

_BOMS: Final[tuple[tuple[bytes, str], ...]] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def _decode_text(data: bytes, filename: str) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise CorruptFileError(f"{filename or 'The file'} is not valid {encoding} text.") from exc
    if b"\x00" in data[:4096]:
        raise CorruptFileError(f"{filename or 'The file'} is binary, not text.")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:  # charset-normalizer comes with unstructured; stay useful without it
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        if best is not None:
            return str(best)
    except ImportError:
        pass
    return data.decode("cp1252", errors="replace")


# --- unstructured (lazy) ------------------------------------------------------------------

_import_lock = threading.Lock()
_checked_model = False


def _refuse_model_download() -> None:
    raise ParserNotInstalledError(
        f"spaCy model {_SPACY_MODEL} is not installed and will not be downloaded at run time: "
        "run scripts/install_parsing_deps.sh"
    )


def _unstructured(module: str) -> Any:
    """Import `unstructured.partition.<module>` once the environment is safe and checked."""
    global _checked_model
    with _import_lock:
        _prepare_environment()
        if not _checked_model:
            if importlib.util.find_spec("unstructured") is None:
                raise ParserNotInstalledError("unstructured is not installed: run scripts/install_parsing_deps.sh")
            if importlib.util.find_spec(_SPACY_MODEL) is None:
                _refuse_model_download()
            tokenize = importlib.import_module("unstructured.nlp.tokenize")
            # unstructured downloads the model from GitHub when spacy.load fails: never here.
            if hasattr(tokenize, "_install_spacy_model"):
                setattr(tokenize, "_install_spacy_model", _refuse_model_download)  # noqa: B010
            _checked_model = True
        try:
            return importlib.import_module(f"unstructured.partition.{module}")
        except ImportError as exc:
            raise ParserNotInstalledError(
                f"unstructured's {module} support is missing ({exc}): run scripts/install_parsing_deps.sh"
            ) from exc


def preload(kinds: Iterable[str] = ("pdf", "html", "markdown", "docx", "text")) -> None:
    """Import the partitioners and load the spaCy model now (a worker calls this at start)."""
    modules = {"pdf": "pdf", "html": "html", "markdown": "md", "docx": "docx", "text": "text"}
    for kind in kinds:
        if kind in modules:
            _unstructured(modules[kind])
    tokenize = importlib.import_module("unstructured.nlp.tokenize")
    tokenize.pos_tag("Warm up the tagger.")


_CATEGORY_KIND: Final[dict[str, ElementKind]] = {
    "Title": "title",
    "ListItem": "list",
    "List": "list",
    "Table": "table",
    "TableChunk": "table",
}
_SKIPPED_CATEGORIES: Final[frozenset[str]] = frozenset(
    {"Header", "Footer", "PageBreak", "PageNumber", "Image", "Picture"}
)


def _convert(elements: Sequence[Any], *, keep_pages: bool) -> list[ParsedElement]:
    out: list[ParsedElement] = []
    section: str | None = None
    for element in elements:
        category = getattr(element, "category", type(element).__name__)
        if category in _SKIPPED_CATEGORIES:
            continue
        kind: ElementKind = _CATEGORY_KIND.get(category, "text")
        metadata = getattr(element, "metadata", None)
        if kind == "table":
            html = getattr(metadata, "text_as_html", None)
            text = _table_html_to_text(html) if html else ""
            text = text or (element.text or "")
        else:
            text = element.text or ""
        text = text.strip()
        if not text:
            continue
        if kind == "title":
            section = " ".join(text.split())
        page = getattr(metadata, "page_number", None) if keep_pages else None
        out.append(
            ParsedElement(
                text=text,
                kind=kind,
                page=page if isinstance(page, int) else None,
                section=section,
            )
        )
    return out


class _TableText(HTMLParser):
    """Rows of an HTML table as lines of ` | `-joined cells."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            if not self.rows:
                self.rows.append([])
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _table_html_to_text(html: str) -> str:
    parser = _TableText()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # fall back to unstructured's flat text
        return ""
    lines = [" | ".join(cells) for cells in parser.rows if any(cells)]
    return "\n".join(lines)


# --- PDF ----------------------------------------------------------------------------------


def _parse_pdf(data: bytes, filename: str) -> list[ParsedElement]:
    name = filename or "The PDF"
    if not _is_pdf(data, lenient=True):
        raise CorruptFileError(f"{name} is not a valid PDF (no PDF header).")
    try:
        from pypdf import PdfReader
    except ImportError as exc:  # pragma: no cover - installed with unstructured[pdf]
        raise ParserNotInstalledError("pypdf is missing: run scripts/install_parsing_deps.sh") from exc

    # unstructured swallows pdfminer's errors and returns no elements, so look first.
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = bool(reader.decrypt(""))  # PasswordType.NOT_DECRYPTED is 0
            except Exception:  # unknown crypto or a broken encryption dict
                opened = False
            if not opened:
                raise EncryptedPdfError(
                    f"{name} is password-protected. Remove the password (for example by "
                    "printing it to a new PDF) and upload it again."
                )
        page_count = len(reader.pages)
    except ParseError:
        raise
    except Exception as exc:  # pypdf raises many types for broken files
        raise CorruptFileError(
            f"{name} is damaged or incomplete and cannot be read. Export it again and re-upload."
        ) from exc
    if page_count == 0:
        raise EmptyDocumentError(f"{name} has no pages.")

    partition = _unstructured("pdf")
    try:
        # languages only steers OCR, which "fast" never runs; naming one avoids a warning.
        elements = partition.partition_pdf(
            file=io.BytesIO(data), strategy="fast", languages=["eng"], include_page_breaks=False
        )
    except (ParserNotInstalledError, MemoryError):
        raise
    except Exception as exc:  # a 4xx for the user, the details for us
        log.warning("PDF partitioning failed for %s", filename, exc_info=True)
        raise CorruptFileError(f"{name} could not be read. Export it again and re-upload.") from exc
    parsed = _convert(elements, keep_pages=True)
    if not parsed and _pdf_has_text(reader):
        # pypdf can see text that pdfminer could not get out: a broken file, not an empty one.
        raise CorruptFileError(f"{name} could not be read (its text layer is damaged). Export it again and re-upload.")
    return parsed


def _pdf_has_text(reader: Any, max_pages: int = 5) -> bool:
    try:
        for page in list(reader.pages)[:max_pages]:
            if (page.extract_text() or "").strip():
                return True
    except Exception:  # this is only a diagnosis
        return False
    return False


# --- DOCX ---------------------------------------------------------------------------------


def _parse_docx(data: bytes, filename: str, max_bytes: int | None) -> list[ParsedElement]:
    name = filename or "The DOCX file"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = {info.filename for info in infos}
            if "word/document.xml" not in names or "[Content_Types].xml" not in names:
                raise CorruptFileError(f"{name} is not a valid DOCX document.")
            inflated = sum(info.file_size for info in infos)
            if max_bytes is not None and inflated > max_bytes * MAX_ZIP_EXPANSION:
                raise TooLargeError(
                    f"{name} expands to {_human(inflated)}; the limit is {_human(max_bytes * MAX_ZIP_EXPANSION)}."
                )
            bad = zf.testzip()
            if bad is not None:
                raise CorruptFileError(f"{name} is damaged ({bad} is unreadable).")
    except ParseError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise CorruptFileError(
            f"{name} is damaged or incomplete and cannot be read. Save it again and re-upload."
        ) from exc

    partition = _unstructured("docx")
    try:
        elements = partition.partition_docx(file=io.BytesIO(data))
    except (ParserNotInstalledError, MemoryError):
        raise
    except Exception as exc:  # KeyError, lxml's XMLSyntaxError, ...
        log.warning("DOCX partitioning failed for %s", filename, exc_info=True)
        raise CorruptFileError(f"{name} could not be read as a Word document. Save it again and re-upload.") from exc
    return _convert(elements, keep_pages=True)


# --- HTML, Markdown, plain text -----------------------------------------------------------


def _parse_html(text: str, filename: str) -> list[ParsedElement]:
    partition = _unstructured("html")
    try:
        elements = partition.partition_html(text=text)
    except ValueError as exc:  # unstructured raises ValueError for unparseable markup
        raise CorruptFileError(f"{filename or 'The HTML file'} could not be parsed.") from exc
    return _convert(elements, keep_pages=False)


def _parse_markdown(text: str) -> list[ParsedElement]:
    partition = _unstructured("md")
    return _convert(partition.partition_md(text=text), keep_pages=False)


def _parse_text(text: str) -> list[ParsedElement]:
    if not text.strip():
        return []
    partition = _unstructured("text")
    return _convert(partition.partition_text(text=text), keep_pages=False)


# --- CSV and JSON FAQ ---------------------------------------------------------------------

_QUESTION_KEYS: Final[frozenset[str]] = frozenset({"question", "q", "questions", "frage"})
_ANSWER_KEYS: Final[frozenset[str]] = frozenset({"answer", "a", "answers", "antwort", "response"})


def _norm_key(key: object) -> str:
    return re.sub(r"[\s_-]+", " ", str(key)).strip().lower()


def _faq_element(question: str, answer: str) -> ParsedElement:
    question = " ".join(question.split())
    return ParsedElement(text=f"{question}\n{answer.strip()}", kind="text", section=question)


def _parse_csv(text: str, filename: str) -> list[ParsedElement]:
    name = filename or "The CSV file"
    sample = text[:8192]
    try:
        dialect: Any = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if _extension(filename) == ".tsv" else csv.excel
    try:
        rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    except csv.Error as exc:
        raise CorruptFileError(f"{name} is not valid CSV: {exc}.") from exc
    if not rows:
        return []
    header = [_norm_key(c) for c in rows[0]]
    q_col = next((i for i, h in enumerate(header) if h in _QUESTION_KEYS), None)
    a_col = next((i for i, h in enumerate(header) if h in _ANSWER_KEYS), None)
    if q_col is not None and a_col is not None:
        out = []
        for row in rows[1:]:
            question = row[q_col].strip() if q_col < len(row) else ""
            answer = row[a_col].strip() if a_col < len(row) else ""
            if question and answer:
                out.append(_faq_element(question, answer))
        return out
    # Any other table: one line per row, each cell labelled with its column, so a chunk
    # taken from the middle of the table still says what its numbers mean.
    labels = [c.strip() for c in rows[0]]
    lines = []
    for row in rows[1:]:
        cells = [
            f"{labels[i]}: {cell.strip()}" if i < len(labels) and labels[i] else cell.strip()
            for i, cell in enumerate(row)
            if cell.strip()
        ]
        if cells:
            lines.append("; ".join(cells))
    if not lines:  # a single row: no header to speak of
        lines = [" | ".join(c.strip() for c in rows[0])]
    return [ParsedElement(text="\n".join(lines), kind="table")]


def _parse_faq_json(text: str, filename: str) -> list[ParsedElement]:
    name = filename or "The JSON file"
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise CorruptFileError(f"{name} is not valid JSON: {exc}.") from exc
    items: Any = doc
    if isinstance(doc, dict):
        items = next((v for k, v in doc.items() if _norm_key(k) in ("faq", "faqs")), None)
    if not isinstance(items, list):
        raise UnsupportedTypeError(
            f"{name} is JSON but not an FAQ. Upload a list of "
            '{"question": ..., "answer": ...} objects, or {"faq": [...]}.'
        )
    out = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise CorruptFileError(f"{name}: FAQ entry {index + 1} is not an object.")
        fields = {_norm_key(k): v for k, v in item.items()}
        question = next((fields[k] for k in ("question", "q") if k in fields), None)
        answer = next((fields[k] for k in ("answer", "a") if k in fields), None)
        if not isinstance(question, str) or not isinstance(answer, str):
            raise CorruptFileError(f'{name}: FAQ entry {index + 1} needs a text "question" and a text "answer".')
        if question.strip() and answer.strip():
            out.append(_faq_element(question, answer))
    return out
