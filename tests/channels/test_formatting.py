"""How replies look on each platform: Slack mrkdwn and Discord markdown, citations as links,
and no way for model output to ping a whole channel."""

from __future__ import annotations

from helpdeck.channels.formatting import DISCORD_LIMIT, ZERO_WIDTH_SPACE, discord_content, slack_mrkdwn

CITATIONS = [
    {
        "chunk_id": "c1",
        "document_id": "d1",
        "source": "https://help.example/returns",
        "section": "Returns",
        "page": None,
    },
    {"chunk_id": "c2", "document_id": "d2", "source": "manual.pdf", "section": None, "page": 4},
]


def test_slack_reply_is_mrkdwn_with_citations_as_links() -> None:
    text = slack_mrkdwn("**Yes**, see [our policy](https://help.example/p) for <details> & more.", CITATIONS)
    assert text.startswith("*Yes*, see <https://help.example/p|our policy> for &lt;details&gt; &amp; more.")
    assert text.endswith("*Sources:* <https://help.example/returns|Returns> · _manual.pdf, p. 4_")


def test_slack_reply_cannot_mention_everyone() -> None:
    text = slack_mrkdwn("<!channel> <!here> @here @everyone <@U123>", [])
    assert "<!" not in text and "<@" not in text
    assert f"@{ZERO_WIDTH_SPACE}here" in text and f"@{ZERO_WIDTH_SPACE}everyone" in text


def test_discord_reply_has_masked_links_and_fits_the_limit() -> None:
    text = discord_content("@everyone " + "x" * 3000, CITATIONS)
    assert len(text) <= DISCORD_LIMIT
    assert text.startswith(f"@{ZERO_WIDTH_SPACE}everyone")
    assert text.endswith("**Sources:** [Returns](<https://help.example/returns>) · *manual.pdf, p. 4*")
