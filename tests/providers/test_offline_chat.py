"""OfflineChatModel: honest extractive replies, no key, no network."""

from __future__ import annotations

import pytest

from helpdeck.providers.chat import ChatMessage, ChatRequest, Passage
from helpdeck.providers.offline_chat import OfflineChatModel

REFUND_POLICY = Passage(
    chunk_id="c-refund",
    document_id="d-policy",
    source="Refund policy",
    score=0.92,
    text=(
        "Acme was founded in 2009 in Lyon. Refunds are issued within 14 days of purchase.\n"
        "To request a refund, open Settings > Billing and click Request refund. "
        "Refunds go back to the original payment method."
    ),
)
GIFT_CARDS = Passage(
    chunk_id="c-gift",
    document_id="d-faq",
    source="Billing FAQ",
    page=3,
    score=0.61,
    text="Gift cards cannot be refunded. A refund for a gift card purchase becomes store credit.",
)
SHIPPING = Passage(
    chunk_id="c-ship",
    document_id="d-ship",
    source="Shipping",
    score=0.40,
    text="Orders ship within 2 business days. Express delivery is available in the EU.",
)


def request_for(question: str, passages: list[Passage] | None = None) -> ChatRequest:
    return ChatRequest(
        messages=[ChatMessage("user", question)],
        question=question,
        passages=passages or [],
        company_name="Acme",
    )


async def test_answer_quotes_the_best_passages_verbatim() -> None:
    result = await OfflineChatModel().complete(
        request_for("How do I request a refund?", [SHIPPING, GIFT_CARDS, REFUND_POLICY])
    )

    assert result.text.startswith("Here is what I found in our documentation:")
    assert "To request a refund, open Settings > Billing and click Request refund." in result.text
    assert "Gift cards cannot be refunded." in result.text
    assert "(Source: Refund policy)" in result.text
    assert "(Source: Billing FAQ, p. 3)" in result.text
    assert "Orders ship" not in result.text  # only the best two, and only relevant ones
    assert (result.provider, result.finish_reason) == ("offline", "offline")


async def test_every_quoted_line_is_whole_sentences_from_a_passage() -> None:
    long_passage = Passage(
        chunk_id="c-long",
        document_id="d-long",
        score=1.0,
        text=" ".join(f"Sentence {n} talks about invoices and payment terms." for n in range(40)),
    )
    result = await OfflineChatModel().complete(request_for("payment terms?", [long_passage]))

    quotes = [line[2:] for line in result.text.splitlines() if line.startswith("> ")]
    assert len(quotes) == 1
    assert quotes[0] in long_passage.text
    assert quotes[0].endswith(".")
    assert 400 <= len(quotes[0]) <= 600


async def test_second_passage_about_something_else_is_left_out() -> None:
    result = await OfflineChatModel().complete(
        request_for("How do I request a refund?", [REFUND_POLICY, SHIPPING])
    )

    assert "Refunds go back to the original payment method." in result.text
    assert "Express delivery" not in result.text


async def test_no_passages_says_so_and_offers_a_person() -> None:
    result = await OfflineChatModel().complete(request_for("Can I pay with bitcoin?"))

    assert "couldn't find this in Acme's knowledge base" in result.text
    assert "connect you with a person" in result.text
    assert "bitcoin" not in result.text.casefold()  # nothing made up about the topic


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("hi", "How can I help"),
        ("Hello!", "How can I help"),
        ("thanks a lot", "You're welcome"),
        ("Bonjour", "Comment puis-je vous aider"),
        ("merci beaucoup !", "Avec plaisir"),
        ("Hallo", "Wie kann ich Ihnen helfen"),
        ("Vielen Dank!", "Gern geschehen"),
        ("ciao", "Come posso aiutarti"),
        ("grazie", "Prego"),
        ("你好！", "有什么可以帮您"),
        ("谢谢", "不客气"),
    ],
)
async def test_greetings_and_thanks_get_a_short_friendly_reply(message: str, expected: str) -> None:
    result = await OfflineChatModel().complete(request_for(message, [REFUND_POLICY]))

    assert expected in result.text
    assert len(result.text) < 80
    assert "Refund" not in result.text


async def test_greeting_with_a_question_is_answered_as_a_question() -> None:
    result = await OfflineChatModel().complete(
        request_for("Hi, how do I request a refund?", [REFUND_POLICY])
    )

    assert "Settings > Billing" in result.text


async def test_same_input_gives_the_same_reply() -> None:
    request = request_for("refund for a gift card?", [REFUND_POLICY, GIFT_CARDS, SHIPPING])

    first = await OfflineChatModel().complete(request)
    second = await OfflineChatModel().complete(request)

    assert first == second


async def test_streamed_pieces_are_word_sized_and_join_to_the_text() -> None:
    deltas: list[str] = []

    async def collect(delta: str) -> None:
        deltas.append(delta)

    result = await OfflineChatModel().complete(
        request_for("How do I request a refund?", [REFUND_POLICY]), on_delta=collect
    )

    assert "".join(deltas) == result.text
    assert len(deltas) > 5
    assert all(len(delta.split()) <= 3 for delta in deltas)


async def test_chinese_reply_streams_in_several_pieces() -> None:
    passage = Passage(
        chunk_id="c-zh",
        document_id="d-zh",
        score=1.0,
        text="退款会在购买后十四天内处理。要申请退款，请打开设置中的账单页面并点击申请退款。",
    )
    deltas: list[str] = []

    async def collect(delta: str) -> None:
        deltas.append(delta)

    result = await OfflineChatModel().complete(request_for("如何申请退款？", [passage]), collect)

    assert "要申请退款，请打开设置中的账单页面并点击申请退款。" in result.text
    assert "".join(deltas) == result.text


async def test_token_counts_are_estimated_from_lengths() -> None:
    request = request_for("How do I request a refund?", [REFUND_POLICY])
    result = await OfflineChatModel().complete(request)

    assert result.completion_tokens == len(result.text) // 4
    assert result.prompt_tokens == (len(request.question) + len(REFUND_POLICY.text)) // 4
