"""Which chat models a process has, in fallback order, built once from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from helpdeck.answers.composer import ComposerChatModel
from helpdeck.providers.chat import ChatModel
from helpdeck.settings import DEFAULT_MODEL_PRICES, Settings

# The platform's default price table; Settings.model_prices is the one in force.
DEFAULT_PRICES = DEFAULT_MODEL_PRICES


def price_of(model: str, prices: dict[str, tuple[float, float]]) -> tuple[float, float]:
    """The model's price, or its family's (providers answer with dated names like gpt-4o-2024-08-06)."""
    if model in prices:
        return prices[model]
    family = max((name for name in prices if model.startswith(name + "-")), key=len, default=None)
    return prices[family] if family else (0.0, 0.0)


@dataclass
class ModelGateway:
    """Slots in fallback order: primary (OpenAI-compatible), backup, offline (always there)."""

    models: dict[str, ChatModel]
    default_models: dict[str, str]
    # USD per 1K tokens (input, output) by model, from Settings.model_prices.
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    @property
    def chain(self) -> list[str]:
        return [slot for slot in ("primary", "backup", "offline") if slot in self.models]

    def cost_usd(self, model: str, prompt_tokens: int, completion_tokens: int) -> float:
        price_in, price_out = price_of(model, self.prices)
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
    return ModelGateway(models=models, default_models=defaults, prices=dict(settings.model_prices))
