"""Build the multilingual retrieval evaluation set from the Debian Reference (reproducible).

The Debian Reference (Osamu Aoki et al., GPL-2+) ships as parallel HTML manuals in English,
German, French, Italian and Simplified Chinese; every section has the same anchor id in
every language. That gives, without anyone here writing a word:

- knowledge bases: the body of each section (paragraphs, list items, tables; code blocks
  left out), in English and in German, without its heading;
- queries: each section's heading, in each language, whose answer is that section's body.
  A translated heading identical to the English one (left untranslated) is not a query.

Usage: python eval/build_retrieval_set.py [--packages DIR] [--out eval/data]
Without --packages it runs `apt-get download` for the five `debian-reference-*` packages
(needs `apt-get update` once) and extracts them with `dpkg-deb -x` in a temporary directory.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import json
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

LANGUAGES = ["en", "de", "fr", "it", "zh-cn"]
KB_LANGUAGES = ["en", "de"]
PACKAGE_VERSION = "2.100"  # the version the committed data was built from
_NUMBER = re.compile(r"^\s*(?:[A-Z]\.)?[\d.]+\s+")
_CJK = re.compile(r"[\u4e00-\u9fff]")


class _SectionParser(HTMLParser):
    """Collect (anchor id, heading, body elements) of every section of one chapter."""

    _SKIP_DIVS = {"toc", "list-of-tables", "list-of-figures", "navheader", "navfooter"}
    _BLOCKS = {"p": "text", "li": "list", "dd": "text", "dt": "text"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.sections: list[dict] = []
        self._divs: list[bool] = []  # True for a skipped div
        self._skipping = 0
        self._heading: str | None = None
        self._heading_text = ""
        self._heading_id: str | None = None
        self._block: str | None = None
        self._block_text = ""
        self._pre = 0
        self._table: list[str] | None = None
        self._row: list[str] | None = None
        self._cell: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "div":
            skip = attributes.get("class") in self._SKIP_DIVS
            self._divs.append(skip)
            self._skipping += skip
            return
        if self._skipping:
            return
        if re.fullmatch(r"h[1-5]", tag) and attributes.get("class") == "title":
            self._heading, self._heading_text, self._heading_id = tag, "", None
        elif tag == "a" and self._heading and attributes.get("id"):
            self._heading_id = attributes["id"]
        elif tag == "pre":
            self._pre += 1
        elif tag == "table":
            self._table = []
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = ""
        elif tag in self._BLOCKS and self._block is None and self._table is None:
            self._block, self._block_text = tag, ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self._divs and self._divs.pop():
                self._skipping -= 1
            return
        if self._skipping:
            return
        if tag == self._heading:
            self._heading = None
            title = " ".join(self._heading_text.split())
            if self._heading_id and int(tag[1]) >= 2:
                self.sections.append({"id": self._heading_id, "title": title, "elements": []})
        elif tag == "pre":
            self._pre -= 1
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            cells = [cell for cell in self._row if cell]
            if cells:
                self._table.append(" | ".join(cells))
            self._row = None
        elif tag == "table" and self._table is not None:
            if self._table and self.sections:
                self.sections[-1]["elements"].append({"kind": "table", "text": "\n".join(self._table)})
            self._table = None
        elif tag == self._block:
            text = " ".join(self._block_text.split())
            if text and self.sections:
                self.sections[-1]["elements"].append({"kind": self._BLOCKS[tag], "text": text})
            self._block = None

    def handle_data(self, data: str) -> None:
        if self._skipping or self._pre:
            return
        if self._heading:
            self._heading_text += data
        elif self._cell is not None:
            self._cell += data
        elif self._block is not None:
            self._block_text += data


def parse_manual(directory: Path, language: str) -> dict[str, dict]:
    sections: dict[str, dict] = {}
    for path in sorted(glob.glob(str(directory / f"ch*.{language}.html"))):
        parser = _SectionParser()
        parser.feed(Path(path).read_text(encoding="utf-8"))
        chapter = Path(path).name.split(".")[0]
        for section in parser.sections:
            section["chapter"] = chapter
            sections[section["id"]] = section
    return sections


def fetch_packages(workdir: Path) -> Path:
    """apt-get download + dpkg-deb -x the manuals; returns their HTML directory."""
    names = [f"debian-reference-{lang}" for lang in LANGUAGES]
    subprocess.run(["apt-get", "download", *names], cwd=workdir, check=True)
    for deb in workdir.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(workdir / "root")], check=True)
    return workdir / "root" / "usr" / "share" / "debian-reference"


def heading_query(title: str) -> str:
    return _NUMBER.sub("", title).strip()


def is_useful_query(text: str, language: str) -> bool:
    if language == "zh-cn":
        return len(_CJK.findall(text)) >= 2
    return len(text.split()) >= 2


def split_of(section_id: str) -> str:
    """Half the sections tune fusion (dev), the other half report figures (test)."""
    return "dev" if hashlib.sha256(section_id.encode()).digest()[0] % 2 == 0 else "test"


def build(manual_dir: Path, out: Path) -> None:
    manuals = {lang: parse_manual(manual_dir, lang) for lang in LANGUAGES}
    english = manuals["en"]
    # A section is usable when its English body has some substance (>= 30 words).
    usable = [sid for sid, section in english.items() if sum(len(e["text"].split()) for e in section["elements"]) >= 30]
    out.mkdir(parents=True, exist_ok=True)
    for lang in KB_LANGUAGES:
        with (out / f"kb.{lang}.jsonl").open("w", encoding="utf-8") as kb:
            for sid in usable:
                section = manuals[lang].get(sid)
                if section is None or not section["elements"]:
                    continue
                record = {
                    "section_id": sid,
                    "chapter": section["chapter"],
                    "title": heading_query(section["title"]),
                    "elements": section["elements"],
                }
                kb.write(json.dumps(record, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    with (out / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for sid in usable:
            english_title = heading_query(english[sid]["title"])
            for lang in LANGUAGES:
                section = manuals[lang].get(sid)
                if section is None:
                    continue
                text = heading_query(section["title"])
                if lang != "en" and text == english_title:
                    continue  # left untranslated: not a question in that language
                if not is_useful_query(text, lang):
                    continue
                record = {
                    "query_id": f"{lang}:{sid}",
                    "language": lang,
                    "text": text,
                    "section_id": sid,
                    "split": split_of(sid),
                }
                queries.write(json.dumps(record, ensure_ascii=False) + "\n")
                counts[lang] = counts.get(lang, 0) + 1
    print(f"{len(usable)} sections; queries per language: {counts}", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packages", type=Path, help="directory holding the extracted HTML")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "data")
    args = parser.parse_args()
    if args.packages:
        build(args.packages, args.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        build(fetch_packages(Path(tmp)), args.out)


if __name__ == "__main__":
    main()
