"""An action's answer as text a customer can read, and the bot's replies around a call: asking
for what is missing, answering from a result, saying a call failed and offering a person.

A company API's answer is data, never instructions: it is rendered field by field (or, with a
model, handed to the model inside a delimited block) and bounded in size.
"""

from __future__ import annotations

import json
from typing import Any

MAX_FIELDS = 12
MAX_VALUE_CHARS = 200
MAX_SUMMARY_CHARS = 1500

ANSWERED = {
    "en": "Here is what I found{about}:",
    "de": "Das habe ich gefunden{about}:",
    "fr": "Voici ce que j'ai trouvé{about} :",
    "it": "Ecco cosa ho trovato{about}:",
    "zh": "这是我查到的信息{about}：",
}
REJECTED = {
    "en": "I couldn't complete that{about}: the service answered {status}.",
    "de": "Das hat leider nicht geklappt{about}: der Dienst antwortete mit {status}.",
    "fr": "Je n'ai pas pu le faire{about} : le service a répondu {status}.",
    "it": "Non sono riuscito a farlo{about}: il servizio ha risposto {status}.",
    "zh": "无法完成该操作{about}：服务返回了 {status}。",
}
CHECK_DETAILS = {
    "en": "Please check the details, or ask for a human and a member of our team will help.",
    "de": "Bitte prüfen Sie die Angaben, oder fragen Sie nach einer Person aus unserem Team.",
    "fr": "Vérifiez les informations, ou demandez à parler à un membre de notre équipe.",
    "it": "Controlli i dati, oppure chieda di parlare con un membro del nostro team.",
    "zh": "请检查信息，或要求人工客服，我们的团队成员会帮助您。",
}
NEEDS = {
    "en": "To do that I need your {names}. Could you send it?",
    "de": "Dafür brauche ich noch: {names}. Können Sie mir das schicken?",
    "fr": "Pour cela, il me faut : {names}. Pouvez-vous me l'envoyer ?",
    "it": "Per questo mi serve: {names}. Può inviarmelo?",
    "zh": "为此我还需要：{names}。请发给我好吗？",
}
FAILED = {
    "en": "I'm sorry, I can't check that right now: the service is not answering. "
    "A member of our team can help: ask for a human and we will connect you.",
    "de": "Das kann ich gerade leider nicht prüfen: der Dienst antwortet nicht. "
    "Ein Mitglied unseres Teams kann helfen: fragen Sie nach einer Person, und wir verbinden Sie.",
    "fr": "Désolé, je ne peux pas vérifier cela pour le moment : le service ne répond pas. "
    "Un membre de notre équipe peut vous aider : demandez à parler à une personne.",
    "it": "Mi dispiace, al momento non posso verificarlo: il servizio non risponde. "
    "Un membro del nostro team può aiutarla: chieda di parlare con una persona.",
    "zh": "抱歉，我现在无法查询：服务没有响应。我们的团队成员可以帮助您：请要求人工客服，我们会为您转接。",
}
AND = {"en": " and ", "de": " und ", "fr": " et ", "it": " e ", "zh": "和"}


def _pick(table: dict[str, str], language: str) -> str:
    return table.get(language, table["en"])


def _label(key: str) -> str:
    return key.replace("_", " ").replace("-", " ").strip().capitalize() or key


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = " ".join(str(value).split())
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _lines(data: Any, prefix: str = "", depth: int = 0) -> list[str]:
    if isinstance(data, dict):
        lines: list[str] = []
        for key, value in data.items():
            label = f"{prefix}{_label(str(key))}"
            if value is None or value == "" or value == [] or value == {}:
                continue
            if isinstance(value, dict) and depth < 1:
                lines += _lines(value, f"{label} › ", depth + 1)
            elif isinstance(value, list):
                if all(not isinstance(v, (dict, list)) for v in value):
                    shown = ", ".join(_scalar(v) for v in value[:5]) + (", …" if len(value) > 5 else "")
                    lines.append(f"{label}: {shown}")
                else:
                    lines.append(f"{label}: {len(value)}")
            elif not isinstance(value, (dict, list)):
                lines.append(f"{label}: {_scalar(value)}")
        return lines
    if isinstance(data, list):
        lines = [f"{len(data)} result(s)"]
        for item in data[:3]:
            lines += _lines(item, "", depth + 1) if isinstance(item, dict) else [_scalar(item)]
        return lines
    return [_scalar(data)]


def summarise_result(content_type: str, body: bytes) -> str:
    """The answer's fields, one per line ("- Status: shipped"), bounded; '' when it has none."""
    text = body.decode("utf-8", errors="replace")
    if "json" in content_type or text.lstrip()[:1] in ("{", "["):
        try:
            lines = _lines(json.loads(text))
        except ValueError:
            lines = []
    elif content_type.startswith("text/plain"):
        lines = [_scalar(text)] if text.strip() else []
    else:
        lines = []
    summary = "\n".join(f"- {line}" for line in lines[:MAX_FIELDS])
    return summary if len(summary) <= MAX_SUMMARY_CHARS else summary[: MAX_SUMMARY_CHARS - 1] + "…"


def _about(arguments: dict[str, Any], language: str) -> str:
    if not arguments:
        return ""
    shown = ", ".join(f"{_label(k).lower()} {_scalar(v)}" for k, v in list(arguments.items())[:3])
    return f"（{shown}）" if language == "zh" else f" ({shown})"


def answered_text(language: str, arguments: dict[str, Any], summary: str) -> str:
    head = _pick(ANSWERED, language).format(about=_about(arguments, language))
    return f"{head}\n{summary}" if summary else head


def rejected_text(language: str, arguments: dict[str, Any], status_code: int, summary: str) -> str:
    head = _pick(REJECTED, language).format(about=_about(arguments, language), status=status_code)
    middle = f"\n{summary}" if summary else ""
    return f"{head}{middle}\n{_pick(CHECK_DETAILS, language)}"


def needs_text(language: str, missing: list[str], parameters: dict) -> str:
    properties = parameters.get("properties", {})
    names = []
    for name in missing:
        described = str(properties.get(name, {}).get("description", "")).strip()
        names.append(described if 0 < len(described) <= 60 else _label(name).lower())
    joined = names[0] if len(names) == 1 else ", ".join(names[:-1]) + _pick(AND, language) + names[-1]
    return _pick(NEEDS, language).format(names=joined)


def failed_text(language: str) -> str:
    return _pick(FAILED, language)
