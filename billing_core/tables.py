"""Every table, imported once so SQLModel's metadata (and Alembic) sees the whole schema."""

from sqlmodel import SQLModel

from billing_core.audit.tables import AuditEntry
from billing_core.customers.tables import (
    Account,
    Contact,
    Customer,
    CustomerGroup,
    CustomerSensitivity,
    TariffAssignment,
)
from billing_core.readings.tables import Meter, MeterReading, ReadingBook
from billing_core.staff.tables import StaffUser

metadata = SQLModel.metadata

__all__ = [
    "Account",
    "AuditEntry",
    "Contact",
    "Customer",
    "CustomerGroup",
    "CustomerSensitivity",
    "Meter",
    "MeterReading",
    "ReadingBook",
    "StaffUser",
    "TariffAssignment",
    "metadata",
]
