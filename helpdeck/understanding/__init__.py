"""Understanding a customer message before answering it: language, intent, sentiment, escalation."""
