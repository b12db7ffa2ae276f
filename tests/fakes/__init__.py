"""Fake provider servers on loopback, for the real client libraries to talk to."""
