"""Channel health: probes of each channel's provider (is Twilio, the Telegram bot, the payment
provider answering, with our credentials?) and the watch on delivery (too many failed sends
in a window raise an alert), recorded as domain events and shown on the staff dashboard."""
