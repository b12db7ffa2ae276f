"""Staff roles and what each may do."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    agent = "agent"  # follows and takes over conversations
    reviewer = "reviewer"  # reviews anomalous bills (电费复核)
    collections = "collections"  # arrears, payment arrangements, disconnection approvals
    admin = "admin"  # everything, including staff and billing-relevant master data
