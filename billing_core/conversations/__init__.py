"""Conversations, channel-neutral: inbound messages stored, the sender's identity resolved,
routed to an intent (bill, pay, usage, help, stop, start, language, agent, link) or to the
agents' queue; every message in and out kept for staff to follow live."""
