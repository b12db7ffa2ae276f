"""Fake provider servers on loopback, for the real client libraries to talk to (the fake
Twilio API, which the dispatch benchmark runs too, is bench.fakes.twilio_api)."""
