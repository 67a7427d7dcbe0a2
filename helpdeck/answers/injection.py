"""Untrusted text (documents, tool results) is data: strip what hides instructions (HTML
comments, markup, zero-width characters) and drop sentences that read as orders to the bot."""

from __future__ import annotations

import re

_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.DOTALL)
_HTML_TAG = re.compile(r"</?[a-zA-Z][^>]{0,500}>")
_MD_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_MD_LINK_REF = re.compile(r"^\s*\[[^\]]+\]:\s*\S+.*$", re.MULTILINE)  # [label]: http://… (hidden)
_ZERO_WIDTH = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_SENTENCE = re.compile(r"(?<=[.!?。！？])\s*|\n+")

# Orders aimed at an assistant, in en/de/fr/it/zh. Matched case-insensitively.
INJECTION_PATTERNS = [
    r"\bignore\b.{0,40}\b(instruction|prompt|rule|direction)s?\b",
    r"\bdisregard\b.{0,40}\b(instruction|prompt|rule|above|previous)",
    r"\bforget\b.{0,30}\b(instruction|everything|rules)",
    r"\b(system|developer)\s*(prompt|message|instruction)s?\b",
    r"\byou are now\b|\bfrom now on,? you\b|\bnew instructions?\b|\bact as\b",
    r"\b(reveal|print|repeat|output|show)\b.{0,40}\b(prompt|instructions|secret|canary|password|api key)",
    r"\b(assistant|ai|bot|chatbot|model)\s*[:,]\s*(please\s+)?(say|reply|answer|tell|respond|include|send)",
    r"\b(when|if) (the )?(user|customer|anyone) asks\b",
    r"^\s*(###|\[\s*system\s*\]|<\s*system\s*>)",
    r"\bignorier\w*\b.{0,40}\b(anweisung|regel|vorgabe)",
    r"\bvergiss\b.{0,30}\b(anweisung|alles|regel)",
    r"\bignor\w*\b.{0,40}\b(consigne|instruction|règle)",
    r"\boublie\w*\b.{0,30}\b(consigne|instruction|tout)",
    r"\bignora\w*\b.{0,40}\b(istruzion|regol)",
    r"\bdimentica\w*\b.{0,30}\b(istruzion|tutto)",
    r"忽略.{0,10}(指令|指示|规则|提示)|无视.{0,10}(指令|指示|规则)|系统提示|你现在是",
    r"(https?://|www\.)\S*\?(\S*=)?\{",  # URL templates waiting to be filled with data
]
_INJECTION = re.compile("|".join(f"(?:{p})" for p in INJECTION_PATTERNS), re.IGNORECASE | re.MULTILINE)


def looks_like_injection(text: str) -> bool:
    return bool(_INJECTION.search(text))


def strip_hidden_markup(text: str) -> str:
    """Remove comments, tags, images, link definitions and zero-width characters."""
    text = _HTML_COMMENT.sub(" ", text)
    text = _MD_IMAGE.sub(lambda m: m.group(1), text)
    text = _MD_LINK_REF.sub(" ", text)
    text = _HTML_TAG.sub(" ", text)
    return _ZERO_WIDTH.sub("", text)


def clean_passage_text(text: str) -> tuple[str, int]:
    """The passage without hidden markup and without instruction-like sentences; and how many
    sentences were dropped (an indirect injection attempt when > 0)."""
    kept, dropped = [], 0
    for sentence in _SENTENCE.split(strip_hidden_markup(text)):
        if not sentence.strip():
            continue
        if looks_like_injection(sentence):
            dropped += 1
            continue
        kept.append(sentence.strip())
    joined = " ".join(kept)
    return re.sub(r"(?<=[。！？])\s+", "", joined), dropped


def injected_sentences(texts: list[str]) -> tuple[str, ...]:
    """The instruction-like sentences hidden in `texts` (comments included), for output checks."""
    found = []
    for text in texts:
        for comment in re.findall(r"<!--(.*?)(?:-->|$)", text, re.DOTALL):
            found.append(comment.strip())
        sentences = _SENTENCE.split(strip_hidden_markup(text))
        found += [s.strip() for s in sentences if s.strip() and looks_like_injection(s)]
    return tuple(found)
