"""OpenAIChatModel against a local server that speaks the OpenAI chat-completions protocol."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from helpdeck.providers.chat import (
    ChatMessage,
    ChatModelError,
    ChatModelRejected,
    ChatRequest,
)
from helpdeck.providers.openai_chat import OpenAIChatModel
from tests.support.fake_openai import FakeOpenAI, FakeOpenAIProcess

QUESTION = "How do I reset my password?"
REQUEST = ChatRequest(
    messages=[
        ChatMessage("system", "You answer questions about Acme from the passages given."),
        ChatMessage("user", QUESTION),
    ],
    max_tokens=64,
)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(stall_seconds=10) as server:
        yield server


@pytest.fixture
def fake(fake_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    fake_server.reset()
    yield fake_server
    fake_server.release()


def chat_model(fake: FakeOpenAI, timeout_s: float = 5.0) -> OpenAIChatModel:
    return OpenAIChatModel(
        api_key="sk-test", base_url=fake.base_url, model="gpt-4o-mini", timeout_s=timeout_s
    )


class DeltaRecorder:
    def __init__(self) -> None:
        self.deltas: list[str] = []

    async def __call__(self, delta: str) -> None:
        self.deltas.append(delta)


async def test_streamed_deltas_join_to_the_final_text_with_usage_from_the_server(
    fake: FakeOpenAI,
) -> None:
    recorder = DeltaRecorder()
    result = await chat_model(fake).complete(REQUEST, on_delta=recorder)

    assert result.text == f"Echo: {QUESTION}"
    assert len(recorder.deltas) > 1
    assert "".join(recorder.deltas) == result.text
    # The stand-in counts words as tokens, so the numbers prove they came from the server.
    prompt_words = sum(len(m.content.split()) for m in REQUEST.messages)
    assert (result.prompt_tokens, result.completion_tokens) == (prompt_words, 7)
    assert (result.provider, result.model, result.finish_reason) == (
        "openai",
        "gpt-4o-mini",
        "stop",
    )


async def test_plain_call_returns_text_and_usage(fake: FakeOpenAI) -> None:
    fake.reply_text = "Open Settings, then Security, then Reset password."
    result = await chat_model(fake).complete(REQUEST)

    assert result.text == "Open Settings, then Security, then Reset password."
    assert result.completion_tokens == 7
    assert result.prompt_tokens == sum(len(m.content.split()) for m in REQUEST.messages)


async def test_server_sees_the_messages_model_and_limits(fake: FakeOpenAI) -> None:
    await chat_model(fake).complete(REQUEST, on_delta=DeltaRecorder())
    await chat_model(fake).complete(
        ChatRequest(messages=REQUEST.messages, model="gpt-4o", max_tokens=32, temperature=0.0)
    )

    streamed, plain = fake.requests
    assert streamed["messages"] == [
        {"role": "system", "content": REQUEST.messages[0].content},
        {"role": "user", "content": QUESTION},
    ]
    assert streamed["model"] == "gpt-4o-mini"
    assert streamed["max_tokens"] == 64
    assert streamed["stream"] is True
    assert streamed["stream_options"] == {"include_usage": True}
    assert plain["model"] == "gpt-4o"
    assert (plain["max_tokens"], plain["temperature"]) == (32, 0.0)
    assert not plain.get("stream")


async def test_max_completion_tokens_can_replace_max_tokens(fake: FakeOpenAI) -> None:
    model = OpenAIChatModel(
        api_key="sk-test", base_url=fake.base_url, token_limit_field="max_completion_tokens"
    )
    await model.complete(REQUEST)

    assert fake.requests[0]["max_completion_tokens"] == 64
    assert "max_tokens" not in fake.requests[0]


@pytest.mark.parametrize("streamed", [False, True])
@pytest.mark.parametrize("mode", ["fail", "rate_limit"])
async def test_server_errors_and_rate_limits_are_retryable_and_not_retried_by_the_sdk(
    fake: FakeOpenAI, mode: str, streamed: bool
) -> None:
    fake.set_mode(mode)
    recorder = DeltaRecorder()

    with pytest.raises(ChatModelError) as caught:
        await chat_model(fake).complete(REQUEST, on_delta=recorder if streamed else None)

    assert not isinstance(caught.value, ChatModelRejected)
    assert fake.calls == 1  # retries belong to the Temporal activity, not the SDK
    assert recorder.deltas == []


@pytest.mark.parametrize("streamed", [False, True])
async def test_refused_credentials_are_rejected(fake: FakeOpenAI, streamed: bool) -> None:
    fake.set_mode("unauthorized")

    with pytest.raises(ChatModelRejected, match="credentials"):
        await chat_model(fake).complete(REQUEST, on_delta=DeltaRecorder() if streamed else None)


@pytest.mark.parametrize("streamed", [False, True])
async def test_stalled_server_fails_retryably_within_the_timeout(
    fake: FakeOpenAI, streamed: bool
) -> None:
    fake.set_mode("stall", stall_seconds=10)
    recorder = DeltaRecorder()
    started = time.monotonic()

    with pytest.raises(ChatModelError) as caught:
        await chat_model(fake, timeout_s=0.3).complete(
            REQUEST, on_delta=recorder if streamed else None
        )

    assert time.monotonic() - started < 2.0
    assert not isinstance(caught.value, ChatModelRejected)
    assert recorder.deltas == []


async def test_stream_that_stops_midway_fails_retryably_within_the_timeout(
    fake: FakeOpenAI,
) -> None:
    fake.set_mode("stall_mid_stream", stall_seconds=10)
    recorder = DeltaRecorder()
    started = time.monotonic()

    with pytest.raises(ChatModelError) as caught:
        await chat_model(fake, timeout_s=0.3).complete(REQUEST, on_delta=recorder)

    assert time.monotonic() - started < 2.0
    assert not isinstance(caught.value, ChatModelRejected)
    assert recorder.deltas == ["Echo:"]


async def test_whole_call_is_bounded_even_when_every_chunk_arrives_in_time(
    fake: FakeOpenAI,
) -> None:
    fake.set_mode("stall_mid_stream", stall_seconds=0.4)
    model = OpenAIChatModel(
        api_key="sk-test", base_url=fake.base_url, timeout_s=1.0, total_timeout_s=0.2
    )

    with pytest.raises(ChatModelError, match="no answer within"):
        await model.complete(REQUEST, on_delta=DeltaRecorder())


async def test_released_stall_answers_normally(fake: FakeOpenAI) -> None:
    fake.set_mode("stall", stall_seconds=10)
    call = asyncio.create_task(chat_model(fake).complete(REQUEST))
    await asyncio.sleep(0.2)
    assert not call.done()

    fake.release()

    assert (await asyncio.wait_for(call, 3)).text == f"Echo: {QUESTION}"


@pytest.mark.parametrize("streamed", [False, True])
async def test_garbage_body_is_rejected(fake: FakeOpenAI, streamed: bool) -> None:
    fake.set_mode("garbage")
    recorder = DeltaRecorder()

    with pytest.raises(ChatModelRejected):
        await chat_model(fake).complete(REQUEST, on_delta=recorder if streamed else None)

    assert recorder.deltas == []


@pytest.mark.parametrize("streamed", [False, True])
async def test_oversized_answer_is_rejected_and_never_streamed_past_the_bound(
    fake: FakeOpenAI, streamed: bool
) -> None:
    fake.set_mode("oversized")
    recorder = DeltaRecorder()

    with pytest.raises(ChatModelRejected, match="exceeds"):
        await chat_model(fake).complete(REQUEST, on_delta=recorder if streamed else None)

    assert len("".join(recorder.deltas)) <= REQUEST.max_tokens * 8


@pytest.mark.parametrize("streamed", [False, True])
async def test_empty_answer_is_rejected(fake: FakeOpenAI, streamed: bool) -> None:
    fake.reply_text = "   "

    with pytest.raises(ChatModelRejected, match="empty"):
        await chat_model(fake).complete(REQUEST, on_delta=DeltaRecorder() if streamed else None)


@pytest.mark.parametrize("streamed", [False, True])
async def test_missing_usage_is_estimated_from_text_length(
    fake: FakeOpenAI, streamed: bool
) -> None:
    fake.send_usage = False
    result = await chat_model(fake).complete(
        REQUEST, on_delta=DeltaRecorder() if streamed else None
    )

    assert result.prompt_tokens == sum(len(m.content) for m in REQUEST.messages) // 4
    assert result.completion_tokens == len(result.text) // 4


async def test_unreachable_server_is_a_retryable_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    model = OpenAIChatModel(api_key="sk-test", base_url=f"http://127.0.0.1:{port}/v1")

    with pytest.raises(ChatModelError) as caught:
        await model.complete(REQUEST)

    assert not isinstance(caught.value, ChatModelRejected)


async def test_queued_failure_affects_only_the_next_call(fake: FakeOpenAI) -> None:
    model = chat_model(fake)
    fake.set_mode("fail", times=1)

    with pytest.raises(ChatModelError):
        await model.complete(REQUEST)
    assert (await model.complete(REQUEST)).text == f"Echo: {QUESTION}"


async def test_concurrent_calls_each_get_their_own_answer(fake: FakeOpenAI) -> None:
    model = chat_model(fake)
    requests = [
        ChatRequest(messages=[ChatMessage("user", f"question number {n}")]) for n in range(8)
    ]

    results = await asyncio.gather(*(model.complete(r, on_delta=DeltaRecorder()) for r in requests))

    assert [r.text for r in results] == [f"Echo: question number {n}" for n in range(8)]


async def test_stand_in_runs_as_a_process_steered_over_http() -> None:
    server = await asyncio.to_thread(FakeOpenAIProcess, "ok")
    try:
        model = OpenAIChatModel(api_key="sk-test", base_url=server.base_url, name="backup")
        assert (await model.complete(REQUEST)).provider == "backup"

        await asyncio.to_thread(server.control, mode="unauthorized", times=1)
        with pytest.raises(ChatModelRejected):
            await model.complete(REQUEST)

        calls = await asyncio.to_thread(server.calls)
        assert calls["calls"] == 2
        assert calls["requests"][0]["messages"][-1]["content"] == QUESTION
    finally:
        await asyncio.to_thread(server.stop)
