"""Replies rendered for each platform: Slack mrkdwn or Discord markdown, citations as links,
and nothing that could ping a whole channel (@here, @channel, @everyone)."""

from __future__ import annotations

import re

ZERO_WIDTH_SPACE = "\u200b"
MASS_MENTION = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
MARKDOWN_LINK = re.compile(r"\[([^\]\n]+)\]\((https?://[^)\s]+)\)")
MARKDOWN_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
DISCORD_LIMIT = 2000
SLACK_LIMIT = 39000


def _neutralise(text: str) -> str:
    return MASS_MENTION.sub(lambda m: "@" + ZERO_WIDTH_SPACE + m.group(1), text)


def _citation_label(citation: dict) -> str:
    label = str(citation.get("section") or citation.get("source") or citation.get("document_id") or "source")
    if citation.get("page"):
        label += f", p. {citation['page']}"
    return label


def _is_url(value: object) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and " " not in value


def slack_escape(text: str) -> str:
    """Slack's three control characters; escaping them also defuses <!channel> and <@U…> tricks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_mrkdwn(content: str, citations: list[dict]) -> str:
    """The reply in Slack mrkdwn: **bold** → *bold*, [text](url) → <url|text>, sources as links."""
    links: list[str] = []

    def keep_link(match: re.Match[str]) -> str:
        links.append(f"<{match.group(2)}|{slack_escape(match.group(1)).replace('|', '¦')}>")
        return f"\x00{len(links) - 1}\x00"

    text = MARKDOWN_LINK.sub(keep_link, content)
    text = _neutralise(slack_escape(text))
    text = MARKDOWN_BOLD.sub(r"*\1*", text)
    text = re.sub(r"\x00(\d+)\x00", lambda m: links[int(m.group(1))], text)
    sources = []
    for citation in citations:
        label = _neutralise(slack_escape(_citation_label(citation))).replace("|", "¦")
        source = citation.get("source")
        sources.append(f"<{source}|{label}>" if _is_url(source) else f"_{label}_")
    if sources:
        text += "\n\n*Sources:* " + " · ".join(dict.fromkeys(sources))
    return text[:SLACK_LIMIT]


def discord_content(content: str, citations: list[dict]) -> str:
    """The reply in Discord markdown, sources as masked links, within Discord's 2000 characters."""
    sources = []
    for citation in citations:
        label = _citation_label(citation).replace("[", "(").replace("]", ")")
        source = citation.get("source")
        sources.append(f"[{label}](<{source}>)" if _is_url(source) else f"*{label}*")
    footer = ("\n\n**Sources:** " + " · ".join(dict.fromkeys(sources))) if sources else ""
    footer = _neutralise(footer)
    body = _neutralise(content)
    room = DISCORD_LIMIT - len(footer)
    if len(body) > room:
        body = body[: max(room - 1, 0)] + "…"
    return (body + footer)[:DISCORD_LIMIT]
