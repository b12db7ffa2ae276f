from tests.integration.outbox.helpers import fake_twilio, twilio

__all__ = ["fake_twilio", "twilio"]
