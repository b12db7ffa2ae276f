"""Conversation transcripts (tables only): below the outbox and the conversation layer."""
