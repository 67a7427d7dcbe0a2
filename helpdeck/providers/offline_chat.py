"""`ChatModel` that needs no key and no network: an extractive answer quoted from passages.

It is the default in the embedded shape and the last resort of the fallback chain, so it must
never invent anything: it quotes the best retrieved passages verbatim (whole sentences), or
says plainly that the knowledge base has no answer and offers a person.
"""

from __future__ import annotations

import re
import unicodedata

from helpdeck.providers.chat import ChatRequest, ChatResult, DeltaCallback, Passage

QUOTE_BUDGET_CHARS = 600  # all quoted text together
FIRST_QUOTE_SHARE_CHARS = 400  # when two passages are quoted, the first gets at most this
MIN_SECOND_QUOTE_CHARS = 80  # below this the second passage is left out
WORDS_PER_DELTA = 3
MAX_DELTA_CHARS = 40  # so unspaced scripts (Chinese) still stream in several pieces

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？；])")
_WORD = re.compile(r"\w+")

_STOPWORDS = frozenset(
    "what when where which while with your yours have does this that these those from there "
    "their about would could should will into than then them they been being just like more "
    "some such only also very please want need".split()
)

# Reply language and kind for each greeting or thanks a short message may consist of.
_SMALL_TALK: dict[str, tuple[str, str]] = {
    "hi": ("greeting", "en"),
    "hello": ("greeting", "en"),
    "hey": ("greeting", "en"),
    "good morning": ("greeting", "en"),
    "good afternoon": ("greeting", "en"),
    "good evening": ("greeting", "en"),
    "thanks": ("thanks", "en"),
    "thank you": ("thanks", "en"),
    "thank": ("thanks", "en"),
    "thx": ("thanks", "en"),
    "bonjour": ("greeting", "fr"),
    "bonsoir": ("greeting", "fr"),
    "salut": ("greeting", "fr"),
    "merci": ("thanks", "fr"),
    "hallo": ("greeting", "de"),
    "guten tag": ("greeting", "de"),
    "guten morgen": ("greeting", "de"),
    "danke": ("thanks", "de"),
    "dank": ("thanks", "de"),
    "ciao": ("greeting", "it"),
    "buongiorno": ("greeting", "it"),
    "salve": ("greeting", "it"),
    "grazie": ("thanks", "it"),
    "hola": ("greeting", "es"),
    "gracias": ("thanks", "es"),
    "你好": ("greeting", "zh"),
    "您好": ("greeting", "zh"),
    "嗨": ("greeting", "zh"),
    "谢谢": ("thanks", "zh"),
    "多谢": ("thanks", "zh"),
    "谢谢你": ("thanks", "zh"),
}
# Words that may surround a greeting without making it a question ("thanks a lot", "hi there").
_FILLER = frozenset(
    "there all everyone team again so much a lot very you guys folks "
    "beaucoup à tous vielen schön sehr mille tante a tutti muchas".split()
)
_SMALL_TALK_REPLIES: dict[tuple[str, str], str] = {
    ("greeting", "en"): "Hello! How can I help you today?",
    ("thanks", "en"): "You're welcome! Is there anything else I can help you with?",
    ("greeting", "fr"): "Bonjour ! Comment puis-je vous aider ?",
    ("thanks", "fr"): "Avec plaisir ! Puis-je vous aider pour autre chose ?",
    ("greeting", "de"): "Hallo! Wie kann ich Ihnen helfen?",
    ("thanks", "de"): "Gern geschehen! Kann ich Ihnen sonst noch helfen?",
    ("greeting", "it"): "Ciao! Come posso aiutarti?",
    ("thanks", "it"): "Prego! Posso aiutarti in altro?",
    ("greeting", "es"): "¡Hola! ¿En qué puedo ayudarte?",
    ("thanks", "es"): "¡De nada! ¿Puedo ayudarte en algo más?",
    ("greeting", "zh"): "你好！请问有什么可以帮您？",
    ("thanks", "zh"): "不客气！还有什么可以帮您的吗？",
}


class OfflineChatModel:
    """Composes replies from `request.question` and `request.passages` alone; deterministic."""

    name = "offline"
    model = "offline-extractive"

    async def complete(
        self, request: ChatRequest, on_delta: DeltaCallback | None = None
    ) -> ChatResult:
        text = compose_reply(request)
        if on_delta is not None:
            for piece in stream_pieces(text):
                await on_delta(piece)
        source_chars = len(request.question) + sum(len(p.text) for p in request.passages)
        return ChatResult(
            text=text,
            model=self.model,
            provider=self.name,
            prompt_tokens=source_chars // 4,  # estimates: no tokenizer offline
            completion_tokens=len(text) // 4,
            finish_reason="offline",
        )


def compose_reply(request: ChatRequest) -> str:
    """The whole reply: small talk, quoted passages, or an honest "not found" with a person."""
    small_talk = small_talk_reply(request.question)
    if small_talk is not None:
        return small_talk
    quotes = quote_passages(request.question, request.passages)
    if not quotes:
        owner = f"{request.company_name}'s" if request.company_name else "our"
        return (
            f"I couldn't find this in {owner} knowledge base, so I'd rather not guess. "
            "Would you like me to connect you with a person from our team?"
        )
    lines = ["Here is what I found in our documentation:"]
    for passage, quote in quotes:
        label = source_label(passage)
        lines.append(f"> {quote}" + (f"\n(Source: {label})" if label else ""))
    lines.append("If this doesn't answer your question, I can connect you with a person.")
    return "\n\n".join(lines)


def small_talk_reply(question: str) -> str | None:
    """A short friendly reply when the message is only a greeting or thanks, else None."""
    normalized = "".join(
        " " if unicodedata.category(ch)[0] in "PSZ" else ch for ch in question.casefold()
    )
    words = normalized.split()
    if not words or len(words) > 5:
        return None
    phrase = " ".join(w for w in words if w not in _FILLER)
    for candidate in (phrase, " ".join(words)):
        if candidate in _SMALL_TALK:
            return _SMALL_TALK_REPLIES[_SMALL_TALK[candidate]]
    # "hello team, thanks!" is still small talk; its first word picks the reply.
    known = [w for w in words if w in _SMALL_TALK]
    if known and len(known) + sum(w in _FILLER for w in words) == len(words):
        return _SMALL_TALK_REPLIES[_SMALL_TALK[known[0]]]
    return None


def quote_passages(question: str, passages: list[Passage]) -> list[tuple[Passage, str]]:
    """The best one or two passages, each cut to its most relevant run of whole sentences."""
    ranked = sorted(
        (p for p in passages if p.text.strip()),
        key=lambda p: -p.score,  # sorted() is stable: equal scores keep retrieval order
    )
    question_words = content_words(question)
    # The second passage must at least speak of the question's words.
    chosen = ranked[:1] + [
        p for p in ranked[1:2] if not question_words or question_words & content_words(p.text)
    ]
    quotes: list[tuple[Passage, str]] = []
    remaining = QUOTE_BUDGET_CHARS
    for index, passage in enumerate(chosen):
        budget = FIRST_QUOTE_SHARE_CHARS if index == 0 and len(chosen) > 1 else remaining
        if index > 0 and budget < MIN_SECOND_QUOTE_CHARS:
            break
        # Only the first quote may be cut inside an over-long sentence; a second one is
        # whole sentences or nothing.
        quote = best_sentence_run(passage.text, question_words, budget, allow_cut=index == 0)
        if quote:
            quotes.append((passage, quote))
            remaining -= len(quote)
    return quotes


def content_words(text: str) -> set[str]:
    """Crude comparable terms: meaningful words cut to 5 letters (refund ~ refunds), and
    character pairs for unspaced scripts such as Chinese."""
    terms: set[str] = set()
    for word in _WORD.findall(text.casefold()):
        if any(ord(ch) >= 0x3000 for ch in word):
            terms.update(word[i : i + 2] for i in range(max(len(word) - 1, 1)))
        elif len(word) > 3 and word not in _STOPWORDS:
            terms.add(word[:5])
    return terms


def best_sentence_run(
    text: str, question_words: set[str], budget: int, *, allow_cut: bool = True
) -> str:
    """The contiguous whole sentences within `budget` that share most words with the question.

    A single sentence longer than the budget is cut at a word and marked with an ellipsis
    (verbatim up to the cut) when `allow_cut`, else skipped; "" when nothing fits.
    """
    sentences = [s.strip() for s in _SENTENCE_END.split(" ".join(text.split())) if s.strip()]
    best_run, best_score = "", (-1, False)
    for start in range(len(sentences)):
        run = sentences[start]
        if len(run) > budget and not allow_cut:
            continue
        end = start + 1
        while end < len(sentences) and len(run) + 1 + len(sentences[end]) <= budget:
            run = _join_sentences(run, sentences[end])
            end += 1
        # Most question words covered, then a run that opens on a relevant sentence.
        score = (
            len(question_words & content_words(run)),
            bool(question_words & content_words(sentences[start])),
        )
        if score > best_score:
            best_run, best_score = run, score
    if len(best_run) <= budget:
        return best_run
    head = best_run[:budget]
    cut = head.rsplit(" ", 1)[0] if " " in head else head
    return cut.rstrip() + "…"


def _join_sentences(left: str, right: str) -> str:
    return left + right if left.endswith(("。", "！", "？", "；")) else f"{left} {right}"


def source_label(passage: Passage) -> str:
    parts = [passage.source]
    if passage.section:
        parts.append(passage.section)
    if passage.page is not None:
        parts.append(f"p. {passage.page}")
    return ", ".join(p for p in parts if p)


def stream_pieces(text: str) -> list[str]:
    """Split `text` into a few-word pieces that join back to exactly `text`."""
    words = re.findall(r"\s*\S+", text)
    pieces: list[str] = []
    for start in range(0, len(words), WORDS_PER_DELTA):
        group = "".join(words[start : start + WORDS_PER_DELTA])
        pieces.extend(group[i : i + MAX_DELTA_CHARS] for i in range(0, len(group), MAX_DELTA_CHARS))
    trailing = text[len("".join(pieces)) :]
    if trailing:
        pieces.append(trailing)
    return pieces
