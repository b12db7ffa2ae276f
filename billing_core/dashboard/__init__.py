"""The staff dashboard's figures: messages per channel and status per day, the agents' queue,
the outbox backlog, the collection rate, arrears ageing and channel health. Read-only
aggregate queries (`queries.py`), pure shaping (`model.py`), one use case (`service.py`)."""
