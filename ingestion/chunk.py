"""Chunking: parsed document elements → overlapping ~512-token chunks that end on sentences.

Pure functions, no I/O. The parser (`ingestion/parse.py`) produces `ParsedElement`s; the
ingestion activity calls `chunk_elements` and stores the resulting `Chunk`s.

Rules, in order of precedence:
- A chunk never crosses a section: a title element (or a change of `section`) starts a new
  chunk, whose text begins with the heading, so every chunk has exactly one `section`.
- Sentences are the units; a chunk is closed before the sentence that would push it past
  `max_tokens`. A single sentence longer than `max_tokens` is the one exception: it is cut at
  word boundaries (at characters for CJK), since it could not fit any chunk otherwise.
- The next chunk of the same section starts with the trailing whole sentences of the previous
  one, up to `overlap_tokens` (none if the last sentence alone is longer).
- Table rows and list items are units too; a table never mixes rows mid-line.

Tokens are counted by `approx_tokens` unless a counter is passed in (for example the
embedding model's own tokenizer): a quarter of a token per non-CJK character plus one per CJK
character. On Debian Reference prose it lands within 3% of multilingual-e5's tokenizer for
English, German, French and Italian and ~10% above it for Chinese (so Chinese chunks come out
slightly smaller, never larger, than the budget).

Chunk ids are uuid5 of (document id, chunk index, content hash): re-chunking the same content
gives the same ids, so an upsert after a retried activity never duplicates a chunk.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

ElementKind = Literal["title", "text", "list", "table"]

# Namespace for chunk ids (a fixed random uuid: ids stay stable across releases).
CHUNK_NAMESPACE = uuid.UUID("6f1d0a52-8a3c-4f0e-9a55-1c8e2b7d4e10")

DEFAULT_MAX_TOKENS = 512
DEFAULT_OVERLAP_TOKENS = 50


@dataclass(frozen=True)
class ParsedElement:
    """One element of a parsed document, in reading order."""

    text: str
    kind: ElementKind = "text"
    page: int | None = None
    # The heading this element sits under, when the parser knows it; otherwise the chunker
    # uses the text of the last title element it saw.
    section: str | None = None


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    document_id: str
    index: int
    text: str
    token_count: int
    content_hash: str
    section: str | None = None
    page: int | None = None
    page_end: int | None = None


# --- token counting -----------------------------------------------------------------------

_CJK = (
    "\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf"
    "\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_CJK_CHAR = re.compile(f"[{_CJK}]")


def approx_tokens(text: str) -> int:
    """Cheap token estimate: ~4 characters a token, one token per CJK character."""
    if not text:
        return 0
    cjk = len(_CJK_CHAR.findall(text))
    return cjk + math.ceil((len(text) - cjk) / 4)


# --- sentence splitting -------------------------------------------------------------------

# Words that end with a period without ending the sentence (en, de, fr, it), lower-cased.
_ABBREVIATIONS = frozenset(
    """
    e.g i.e etc vs cf al approx dr mr mrs ms prof st no nos fig figs eq vol ch sec p pp
    ca bzw bspw ggf inkl usw vgl z.b d.h u.a s.o s.u u.ä evtl nr abs str dipl
    mme mlle env ex p.ex c.-à-d cf art
    sig sigg dott ecc pag cap nn
    """.split()
)

# A sentence ends at . ! ? … (plus closing quotes/brackets) before whitespace, or at a CJK
# full stop / exclamation / question mark / semicolon (no whitespace needed).
_LATIN_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s+)")
_CJK_END = re.compile(r"[。！？；]+[」』”’）》]*")
_PARAGRAPH = re.compile(r"\n\s*\n")


def _ends_sentence(text: str, end: int) -> bool:
    """Decide whether the Latin terminator ending at `end` closes a sentence."""
    rest = text[end:].lstrip()
    if not rest:
        return True
    if text[end - 1] in "!?" or text[end - 1] in "\"'»”’)]":
        return True
    if text[end - 1] == "…":
        return not rest[0].islower()
    # Period: look at the word before it and the character after the gap.
    start = end - 1
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    word = text[start : end - 1].lower().strip("(\"'«“")
    if word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha()):
        return False
    if word.isdigit() and rest[0].islower():  # German ordinals: "am 3. Mai" / "3. mai"
        return False
    return not rest[0].islower()


def split_sentences(text: str) -> list[str]:
    """Split text into sentences for English, German, French, Italian and Chinese punctuation.

    Blank lines always end a sentence. A period followed by a lower-case letter, or after a
    known abbreviation or a single letter ("z. B.", "e.g.", "J. Smith"), does not.
    """
    sentences: list[str] = []
    for paragraph in _PARAGRAPH.split(text):
        cuts = {m.end() for m in _CJK_END.finditer(paragraph)}
        cuts.update(m.end() for m in _LATIN_END.finditer(paragraph) if _ends_sentence(paragraph, m.end()))
        start = 0
        for cut in sorted(cuts):
            piece = paragraph[start:cut].strip()
            if piece:
                sentences.append(" ".join(piece.split()))
            start = cut
        tail = paragraph[start:].strip()
        if tail:
            sentences.append(" ".join(tail.split()))
    return sentences


def _cut_long(sentence: str, max_tokens: int, count: Callable[[str], int]) -> list[str]:
    """Cut an over-long sentence at word boundaries (characters for unspaced CJK text)."""
    parts: list[str] = []
    words = sentence.split(" ")
    current = ""
    for word in words:
        candidate = f"{current} {word}" if current else word
        if count(candidate) <= max_tokens:
            current = candidate
            continue
        if current:
            parts.append(current)
        # A single "word" can still be too long (CJK runs, base64): cut it by characters.
        while count(word) > max_tokens:
            lo, hi = 1, len(word)
            while lo < hi:  # longest prefix that fits
                mid = (lo + hi + 1) // 2
                if count(word[:mid]) <= max_tokens:
                    lo = mid
                else:
                    hi = mid - 1
            parts.append(word[:lo])
            word = word[lo:]
        current = word
    if current:
        parts.append(current)
    return parts


# --- chunking ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    text: str
    tokens: int
    block: tuple[int, int]  # (element, line): sentences of one block are joined by a space
    page: int | None
    kind: ElementKind


def _units(element: ParsedElement) -> list[tuple[int, str]]:
    """(line number, sentence) pairs: titles whole, tables by row, lists by item then sentence."""
    if element.kind == "title":
        return [(0, " ".join(element.text.split()))]
    if element.kind in ("table", "list"):
        out: list[tuple[int, str]] = []
        for number, line in enumerate(element.text.splitlines()):
            line = " ".join(line.split())
            if line:
                pieces = split_sentences(line) if element.kind == "list" else [line]
                out.extend((number, piece) for piece in pieces)
        return out
    return [(0, sentence) for sentence in split_sentences(element.text)]


def chunk_id_for(document_id: str, index: int, content_hash: str) -> str:
    return str(uuid.uuid5(CHUNK_NAMESPACE, f"{document_id}:{index}:{content_hash}"))


def _join(units: Sequence[_Unit]) -> str:
    text = ""
    for i, unit in enumerate(units):
        if i:
            text += " " if unit.block == units[i - 1].block else "\n"
        text += unit.text
    return text


def chunk_elements(
    document_id: str,
    elements: Iterable[ParsedElement],
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    count_tokens: Callable[[str], int] = approx_tokens,
) -> list[Chunk]:
    """Chunk a document's elements; see the module docstring for the rules."""
    if overlap_tokens >= max_tokens:
        raise ValueError("overlap_tokens must be smaller than max_tokens")
    # 1. Sentence units, grouped by section. Consecutive headings with nothing between them
    # ("Chapter 3" then "3.1 Overview") stay together under the last one.
    groups: list[tuple[str | None, list[_Unit]]] = []
    last_title: str | None = None
    section: str | None
    for index, element in enumerate(elements):
        if not element.text.strip():
            continue
        if element.kind == "title":
            last_title = " ".join(element.text.split())
            section = last_title
            new_group = True
        else:
            section = element.section or last_title
            new_group = not groups or groups[-1][0] != section
        if new_group:
            if groups and groups[-1][1] and all(u.kind == "title" for u in groups[-1][1]):
                groups[-1] = (section, groups[-1][1])
            else:
                groups.append((section, []))
        for line, sentence in _units(element):
            pieces = [sentence]
            if count_tokens(sentence) > max_tokens:
                pieces = _cut_long(sentence, max_tokens, count_tokens)
            for piece in pieces:
                unit = _Unit(piece, count_tokens(piece), (index, line), element.page, element.kind)
                groups[-1][1].append(unit)

    # 2. Pack units into chunks within each section, carrying whole sentences as overlap.
    packed: list[tuple[str | None, list[_Unit], int]] = []  # (section, units, first new unit)
    for group_section, units in groups:
        current: list[_Unit] = []
        fresh_from = 0  # units before this index are overlap from the previous chunk
        for unit in units:
            if fresh_from < len(current) and count_tokens(_join([*current, unit])) > max_tokens:
                packed.append((group_section, current, fresh_from))
                overlap = _overlap(current, overlap_tokens)
                # Never let the overlap crowd out the next sentence.
                while overlap and count_tokens(_join([*overlap, unit])) > max_tokens:
                    overlap = overlap[1:]
                current, fresh_from = list(overlap), len(overlap)
            current.append(unit)
        if fresh_from < len(current):
            packed.append((group_section, current, fresh_from))

    # 3. Materialise with deterministic ids.
    chunks: list[Chunk] = []
    for index, (chunk_section, units, fresh_from) in enumerate(packed):
        text = _join(units)
        content_hash = hashlib.sha256(text.encode("utf-8")).hexdigest()
        pages = [u.page for u in units[fresh_from:] if u.page is not None]
        chunks.append(
            Chunk(
                chunk_id=chunk_id_for(document_id, index, content_hash),
                document_id=document_id,
                index=index,
                text=text,
                token_count=count_tokens(text),
                content_hash=content_hash,
                section=chunk_section,
                page=pages[0] if pages else None,
                page_end=pages[-1] if pages else None,
            )
        )
    return chunks


def _overlap(units: Sequence[_Unit], overlap_tokens: int) -> list[_Unit]:
    taken: list[_Unit] = []
    total = 0
    for unit in reversed(units):
        if total + unit.tokens > overlap_tokens:
            break
        taken.insert(0, unit)
        total += unit.tokens
    return taken
