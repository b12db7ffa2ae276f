"""Notices (电费通知): a bill notice when a bill is issued and a due-date reminder before its
due date, each put in the outbox once (a dedupe key per bill) for the dispatcher to send."""
