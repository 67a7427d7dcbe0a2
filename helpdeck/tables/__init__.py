"""SQLModel tables, one module per domain. Every tenant-owned row carries `company_id`."""

from helpdeck.tables.actions import Action
from helpdeck.tables.analytics import (
    CitationClick,
    ConversationCsat,
    DailyRollup,
    EscalationRollup,
    GapRollup,
    LatencyRollup,
    MessageFeedback,
    TurnFact,
    UsageRollup,
)
from helpdeck.tables.channels import ChannelConfig, ChannelDelivery, ChannelThread
from helpdeck.tables.conversations import Conversation, Message, Turn
from helpdeck.tables.escalations import Escalation
from helpdeck.tables.events import Event
from helpdeck.tables.knowledge import Document, KnowledgeBase, KnowledgeChunk, KnowledgeSource
from helpdeck.tables.tenancy import ApiKey, Company
from helpdeck.tables.users import User, UserSession
from helpdeck.tables.webhooks import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookOutbox

__all__ = [
    "Action",
    "CitationClick", "ConversationCsat", "DailyRollup", "EscalationRollup", "GapRollup", "LatencyRollup",
    "MessageFeedback", "TurnFact", "UsageRollup",
    "ChannelConfig", "ChannelDelivery", "ChannelThread",
    "Document", "KnowledgeBase", "KnowledgeChunk", "KnowledgeSource",
    "ApiKey", "Company", "Conversation", "Escalation", "Event", "Message", "Turn", "User", "UserSession",
    "WebhookAttempt", "WebhookDelivery", "WebhookEndpoint", "WebhookOutbox"]
