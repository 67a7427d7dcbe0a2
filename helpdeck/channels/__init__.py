"""Slack, Discord and the OpenAI-compatible endpoint: the places customers already are.

Inbound requests are verified with each platform's own scheme and become ordinary turns; the
reply goes back through a Temporal workflow so a crash never loses it nor posts it twice.
"""
