"""Twilio adapter: inbound webhooks, status callbacks and outbound transports."""
