"""APScheduler jobs and the outbox dispatcher that delivers every outbound message."""
