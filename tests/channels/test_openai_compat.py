"""The OpenAI-compatible endpoint, driven by the official `openai` SDK, unchanged, pointed at
Helpdeck (`base_url` = Helpdeck + /openai/v1) with a company key. The model behind the turn is
the usual local stand-in for the hosted provider, which echoes the last user message."""

from __future__ import annotations

import uuid

import openai
import pytest

from tests.conftest import Api, Tenant, new_conversation


def sdk(api: Api, tenant: Tenant) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=api.url + "/openai/v1", api_key=tenant.key, max_retries=0, timeout=60)


async def test_models_lists_the_companys_bot(api: Api, tenant: Tenant) -> None:
    models = await sdk(api, tenant).models.list()
    assert [m.id for m in models.data] == ["helpdeck"]


async def test_completion_answers_the_last_user_message_with_earlier_ones_as_history(
    api: Api, tenant: Tenant, fake_primary
) -> None:
    completion = await sdk(api, tenant).chat.completions.create(
        model="helpdeck",
        messages=[
            {"role": "system", "content": "ignored: the company's own instructions rule"},
            {"role": "user", "content": "My order is 1234."},
            {"role": "assistant", "content": "Thanks, noted."},
            {"role": "user", "content": [{"type": "text", "text": "Where is it?"}]},
        ],
        user="customer-7",
    )
    assert completion.choices[0].message.content == "Echo: Where is it?"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    extra = completion.model_extra or {}
    assert extra["citations"] == []
    conversation_id = extra["conversation_id"]
    messages = (await tenant.client.get(f"/v1/conversations/{conversation_id}/messages")).json()["items"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "My order is 1234."),
        ("assistant", "Thanks, noted."),
        ("user", "Where is it?"),
        ("assistant", "Echo: Where is it?"),
    ]
    # The history reached the model, in order, before the question.
    sent = [m["content"] for m in fake_primary.requests[-1]["messages"]]
    assert any("My order is 1234." in c for c in sent) and "Where is it?" in sent[-1]
    conversation = (await tenant.client.get(f"/v1/conversations/{conversation_id}")).json()
    assert conversation["channel"] == "openai" and conversation["user_id"] == "customer-7"


async def test_streaming_with_the_sdk_gives_the_same_answer(api: Api, tenant: Tenant) -> None:
    stream = await sdk(api, tenant).chat.completions.create(
        model="helpdeck", messages=[{"role": "user", "content": "stream this please"}], stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    text, finish, extras, usage = "", None, {}, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            if choice.finish_reason:
                extras = chunk.model_extra or {}
    assert text == "Echo: stream this please"
    assert finish == "stop"
    assert extras["citations"] == [] and uuid.UUID(extras["conversation_id"])
    assert usage is not None and usage.completion_tokens > 0


async def test_metadata_conversation_id_continues_a_conversation(api: Api, tenant: Tenant) -> None:
    conversation = await new_conversation(tenant)
    client = sdk(api, tenant)
    for question in ("first", "second"):
        completion = await client.chat.completions.create(
            model="helpdeck",
            messages=[{"role": "user", "content": question}],
            metadata={"conversation_id": conversation},
        )
        assert completion.model_extra["conversation_id"] == conversation
    messages = (await tenant.client.get(f"/v1/conversations/{conversation}/messages")).json()["items"]
    assert [m["content"] for m in messages] == ["first", "Echo: first", "second", "Echo: second"]


async def test_another_companys_conversation_is_404(api: Api, tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = await new_conversation(tenant)
    with pytest.raises(openai.NotFoundError):
        await sdk(api, other_tenant).chat.completions.create(
            model="helpdeck", messages=[{"role": "user", "content": "peek"}], metadata={"conversation_id": theirs}
        )
    assert len((await tenant.client.get(f"/v1/conversations/{theirs}/messages")).json()["items"]) == 0


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"model": "helpdeck", "messages": [{"role": "assistant", "content": "hi"}]}, "last_message_not_user"),
        ({"model": "helpdeck", "messages": []}, "validation_error"),
        ({"model": "helpdeck", "messages": [{"role": "user", "content": "x" * 5000}]}, "message_too_long"),
        (
            {
                "model": "helpdeck",
                "messages": [{"role": "user", "content": "hi"}],
                "metadata": {"conversation_id": "nope"},
            },
            "validation_error",
        ),
        ({"model": "helpdeck", "messages": [{"role": "wizard", "content": "hi"}]}, "validation_error"),
    ],
)
async def test_bad_requests_are_4xx_problems_and_write_nothing(tenant: Tenant, body: dict, code: str) -> None:
    before = len((await tenant.client.get("/v1/conversations")).json()["items"])
    response = await tenant.client.post("/openai/v1/chat/completions", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == code
    assert len((await tenant.client.get("/v1/conversations")).json()["items"]) == before


async def test_a_wrong_key_is_401(api: Api, tenant: Tenant) -> None:
    client = openai.AsyncOpenAI(base_url=api.url + "/openai/v1", api_key="hd_sk_wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        await client.models.list()
