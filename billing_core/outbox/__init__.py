"""The outbox: every outbound message is a row here first, written in the transaction of the
change it reports; the dispatcher delivers it (quiet hours, rate limits, retries, receipts)."""
