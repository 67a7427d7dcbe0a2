"""SQLModel tables, one module per domain. Every tenant-owned row carries `company_id`."""

from helpdeck.tables.conversations import Conversation, Message, Turn
from helpdeck.tables.events import Event
from helpdeck.tables.tenancy import ApiKey, Company

__all__ = ["ApiKey", "Company", "Conversation", "Event", "Message", "Turn"]
