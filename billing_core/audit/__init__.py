"""The audit log: who changed billing-relevant data, when, from what, to what, and why."""
