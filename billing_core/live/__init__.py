"""Live events for the staff console: durable rows a browser catches up on by id."""
