"""Plain values for customers and contacts."""

from __future__ import annotations

from enum import StrEnum


class CustomerKind(StrEnum):
    residential = "residential"
    non_residential = "non_residential"


class Language(StrEnum):
    zh_cn = "zh-CN"
    en = "en"


class SensitivityKind(StrEnum):
    """Customers never put forward for disconnection automatically (docs/domain.md §5)."""

    medical_equipment = "medical_equipment"
    elderly_alone = "elderly_alone"
    hardship = "hardship"
    infant = "infant"  # an infant in the household


class AccountStatus(StrEnum):
    active = "active"
    disconnected = "disconnected"
    closed = "closed"


class Channel(StrEnum):
    sms = "sms"
    telegram = "telegram"
    email = "email"
