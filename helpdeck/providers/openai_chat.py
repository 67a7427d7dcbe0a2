"""`ChatModel` for OpenAI and any OpenAI-compatible server (vLLM, Ollama, llama.cpp, LiteLLM).

The SDK never retries (max_retries=0): retries, backoff and fallback belong to the Temporal
activity above this class, which needs each failure sorted into "try again" (`ChatModelError`)
or "this provider cannot answer this" (`ChatModelRejected`).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import openai
from openai import AsyncOpenAI

from helpdeck.providers.chat import (
    ChatModelError,
    ChatModelRejected,
    ChatRequest,
    ChatRequestRefused,
    ChatResult,
    DeltaCallback,
)

# An answer longer than max_tokens * this many characters is a runaway (a server ignoring
# max_tokens, a looping model): it is rejected rather than shown.
MAX_CHARS_PER_TOKEN = 8

TokenLimitField = Literal["max_tokens", "max_completion_tokens"]


class OpenAIChatModel:
    """Chat completions over the official `openai` SDK, streamed when a delta callback is given."""

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        model: str = "gpt-4o-mini",
        timeout_s: float = 20.0,
        name: str = "openai",
        *,
        total_timeout_s: float | None = None,
        token_limit_field: TokenLimitField = "max_tokens",
    ) -> None:
        self.name = name
        self.model = model
        self.timeout_s = timeout_s
        # timeout_s bounds each wait (connect, first byte, gap between chunks); the whole call,
        # a long streamed answer included, is bounded by total_timeout_s.
        self.total_timeout_s = total_timeout_s if total_timeout_s is not None else 3 * timeout_s
        # Newer OpenAI models only accept max_completion_tokens; most compatible servers only
        # know max_tokens.
        self.token_limit_field = token_limit_field
        self._api_key = api_key
        self._base_url = base_url
        self._client: AsyncOpenAI | None = None
        self._client_loop: asyncio.AbstractEventLoop | None = None

    def _client_for_this_loop(self) -> AsyncOpenAI:
        """One SDK client per event loop: its connection pool must not cross loops."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = AsyncOpenAI(
                api_key=self._api_key,
                base_url=self._base_url,  # None lets the SDK use OPENAI_BASE_URL or its default
                timeout=self.timeout_s,
                max_retries=0,
            )
            self._client_loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def complete(
        self, request: ChatRequest, on_delta: DeltaCallback | None = None
    ) -> ChatResult:
        arguments: dict[str, Any] = {
            "model": request.model or self.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "temperature": request.temperature,
            self.token_limit_field: request.max_tokens,
        }
        max_chars = request.max_tokens * MAX_CHARS_PER_TOKEN
        try:
            async with asyncio.timeout(self.total_timeout_s):
                if on_delta is None:
                    result = await self._complete_once(arguments, max_chars)
                else:
                    result = await self._complete_streamed(arguments, max_chars, on_delta)
        except TimeoutError as err:
            raise ChatModelError(f"{self.name}: no answer within {self.total_timeout_s}s") from err
        except (openai.AuthenticationError, openai.PermissionDeniedError) as err:
            raise ChatModelRejected(
                f"{self.name}: credentials refused ({err.status_code})"
            ) from err
        except openai.RateLimitError as err:
            raise ChatModelError(f"{self.name}: rate limited (429)") from err
        except openai.APIStatusError as err:
            if err.status_code >= 500 or err.status_code in (408, 409):
                raise ChatModelError(f"{self.name}: server error {err.status_code}") from err
            # Other 4xx (bad request, unknown model, context too long): the same request will
            # fail the same way here, so only another provider can help.
            raise ChatRequestRefused(f"{self.name}: request refused ({err.status_code})") from err
        except (openai.APITimeoutError, openai.APIConnectionError) as err:
            raise ChatModelError(f"{self.name}: transport failure: {err}") from err
        except openai.APIResponseValidationError as err:
            raise ChatModelRejected(f"{self.name}: malformed response") from err
        except openai.APIError as err:  # an error event inside a stream
            raise ChatModelError(f"{self.name}: provider error: {err}") from err
        except json.JSONDecodeError as err:  # a body or SSE event that is not JSON
            raise ChatModelRejected(f"{self.name}: response is not JSON") from err
        return result

    async def _complete_once(self, arguments: dict[str, Any], max_chars: int) -> ChatResult:
        completion = await self._client_for_this_loop().chat.completions.create(**arguments)
        if not hasattr(completion, "choices"):
            # The SDK hands back the raw body when it is not JSON (an HTML error page, a proxy).
            raise ChatModelRejected(f"{self.name}: response is not a chat completion")
        if not completion.choices:
            raise ChatModelRejected(f"{self.name}: response has no choices")
        choice = completion.choices[0]
        text = choice.message.content or ""
        self._check_text(text, max_chars)
        return self._result(
            arguments, text, completion.model, choice.finish_reason, completion.usage
        )

    async def _complete_streamed(
        self, arguments: dict[str, Any], max_chars: int, on_delta: DeltaCallback
    ) -> ChatResult:
        stream = await self._client_for_this_loop().chat.completions.create(
            **arguments, stream=True, stream_options={"include_usage": True}
        )
        if not hasattr(stream, "__aiter__"):
            raise ChatModelRejected(f"{self.name}: response is not an event stream")
        parts: list[str] = []
        length = 0
        finish_reason = "stop"
        response_model = ""
        usage: Any = None
        async with stream:
            async for chunk in stream:
                # The SDK does not validate chunks: read them as if any field could be missing.
                response_model = getattr(chunk, "model", None) or response_model
                usage = getattr(chunk, "usage", None) or usage
                for choice in (getattr(chunk, "choices", None) or [])[:1]:
                    finish_reason = getattr(choice, "finish_reason", None) or finish_reason
                    delta = getattr(getattr(choice, "delta", None), "content", None)
                    if not delta:
                        continue
                    length += len(delta)
                    if length > max_chars:  # decided before the text reaches anyone
                        raise ChatModelRejected(f"{self.name}: answer exceeds {max_chars} chars")
                    parts.append(delta)
                    await on_delta(delta)
        text = "".join(parts)
        self._check_text(text, max_chars)
        return self._result(arguments, text, response_model, finish_reason, usage)

    def _check_text(self, text: str, max_chars: int) -> None:
        if not text.strip():
            raise ChatModelRejected(f"{self.name}: empty answer")
        if len(text) > max_chars:
            raise ChatModelRejected(f"{self.name}: answer exceeds {max_chars} chars")

    def _result(
        self,
        arguments: dict[str, Any],
        text: str,
        response_model: str | None,
        finish_reason: str | None,
        usage: Any,
    ) -> ChatResult:
        if usage is not None:
            prompt_tokens, completion_tokens = usage.prompt_tokens, usage.completion_tokens
        else:
            # Some compatible servers send no usage: a rough estimate (about 4 characters per
            # token) keeps metering and quotas approximately right instead of reading zero.
            prompt_chars = sum(len(m["content"]) for m in arguments["messages"])
            prompt_tokens, completion_tokens = prompt_chars // 4, len(text) // 4
        return ChatResult(
            text=text,
            model=response_model or arguments["model"],
            provider=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            finish_reason=finish_reason or "stop",
        )
