"""Which chat models a process has, in fallback order, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass

from helpdeck.providers.chat import ChatModel
from helpdeck.answers.composer import ComposerChatModel
from helpdeck.settings import Settings

# Per 1K tokens (input, output), USD. Unknown models cost nothing rather than guess wrong.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.00015, 0.0006),
    "gpt-4o": (0.0025, 0.01),
    "gpt-4.1-mini": (0.0004, 0.0016),
    "gpt-4.1": (0.002, 0.008),
    "gpt-3.5-turbo": (0.0005, 0.0015),
}


@dataclass
class ModelGateway:
    """Slots in fallback order: primary (OpenAI-compatible), backup, offline (always there)."""

    models: dict[str, ChatModel]
    default_models: dict[str, str]

    @property
    def chain(self) -> list[str]:
        return [slot for slot in ("primary", "backup", "offline") if slot in self.models]

    def cost_usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price_in, price_out = DEFAULT_PRICES.get(model, (0.0, 0.0))
        return round(prompt_tokens / 1000 * price_in + completion_tokens / 1000 * price_out, 8)


def build_gateway(settings: Settings) -> ModelGateway:
    models: dict[str, ChatModel] = {}
    defaults: dict[str, str] = {}
    if settings.openai_api_key or settings.openai_base_url:
        from helpdeck.providers.openai_chat import OpenAIChatModel

        models["primary"] = OpenAIChatModel(
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url or None,
            model=settings.chat_model,
            timeout_s=settings.model_timeout_s,
            name="primary",
        )
        defaults["primary"] = settings.chat_model
    if settings.backup_base_url:
        from helpdeck.providers.openai_chat import OpenAIChatModel

        models["backup"] = OpenAIChatModel(
            api_key=settings.backup_api_key or "not-needed",
            base_url=settings.backup_base_url,
            model=settings.backup_chat_model,
            timeout_s=settings.model_timeout_s,
            name="backup",
        )
        defaults["backup"] = settings.backup_chat_model
    models["offline"] = ComposerChatModel()
    defaults["offline"] = ComposerChatModel.model
    return ModelGateway(models=models, default_models=defaults)
