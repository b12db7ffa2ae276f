"""Column types that keep the two rules the design insists on: money is exact Decimal and
time is timezone-aware UTC, on SQLite as on PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine


class DecimalType(TypeDecorator[Decimal]):
    """An exact decimal with a fixed number of places.

    PostgreSQL stores NUMERIC(18, scale). SQLite has no exact decimal, so the value is stored
    as a scaled integer (value x 10^scale); SUM() over the column stays exact there too.
    A value with more places than the column holds is refused, never silently rounded:
    rounding is a business rule and happens in the domain.
    """

    impl = Numeric
    cache_ok = True

    def __init__(self, scale: int = 2, precision: int = 18) -> None:
        super().__init__()
        self.scale = scale
        self.precision = precision
        self._quantum = Decimal(1).scaleb(-scale)
        self._factor = 10**scale

    def __repr__(self) -> str:
        return f"DecimalType(scale={self.scale}, precision={self.precision})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(BigInteger())
        return dialect.type_descriptor(
            Numeric(precision=self.precision, scale=self.scale, asdecimal=True)
        )

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            if isinstance(value, float):
                raise TypeError("money and quantities are Decimal, never float")
            value = Decimal(value)
        quantized = value.quantize(self._quantum)
        if quantized != value:
            raise ValueError(f"{value} has more than {self.scale} decimal places")
        if dialect.name == "sqlite":
            return int(quantized.scaleb(self.scale))
        return quantized

    def sqlite_scaled_converter(self, general: Callable[[Any], Any]) -> Callable[[Any], Any]:
        """`process_bind_param` on SQLite for bulk rows: a Decimal becomes its scaled integer
        (more places than the column holds are refused, as there); anything else takes
        `general`, the type's full bind processor."""
        scale, places = self.scale, self.scale

        def scaled(value: Any) -> Any:
            if value.__class__ is not Decimal:
                return general(value)
            shifted = value.scaleb(scale)
            whole = int(shifted)
            if whole != shifted:
                raise ValueError(f"{value} has more than {places} decimal places")
            return whole

        return scaled

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        if dialect.name == "sqlite":
            # scaleb of an integer is exact and already carries `scale` places
            return Decimal(value).scaleb(-self.scale)
        return Decimal(value).quantize(self._quantum)

    def process_literal_param(self, value: Any, dialect: Dialect) -> str:
        return str(self.process_bind_param(value, dialect))

    @property
    def python_type(self) -> type[Decimal]:
        return Decimal


# SQLite's DATETIME text (SQLAlchemy's default storage format), and the same with positions.
_SQLITE_FORMAT = (
    "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"
)
_SQLITE_TEXT = "%04d-%02d-%02d %02d:%02d:%02d.%06d"


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware instant stored in UTC. Naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def __repr__(self) -> str:
        return "UTCDateTime()"

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: pass a timezone-aware value")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite with its default storage format, `process_bind_param` and SQLite's
        DATETIME formatting in one step (the text is the same: a test compares them): every
        write of a message binds several instants, and the two layers of calls cost more
        than the conversion. Elsewhere SQLAlchemy's own chain."""
        general = super().bind_processor(dialect)
        storage = getattr(self.impl_instance, "_storage_format", None)  # the dialect's type
        if dialect.name != "sqlite" or storage != _SQLITE_FORMAT:
            return general
        assert general is not None

        def to_sqlite(value: Any) -> Any:
            if value.__class__ is not datetime or value.tzinfo is not UTC:
                return general(value)  # None, other zones, the checks' errors
            return _SQLITE_TEXT % (value.year, value.month, value.day, value.hour,
                                   value.minute, value.second, value.microsecond)  # fmt: skip

        return to_sqlite

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    @property
    def python_type(self) -> type[datetime]:
        return datetime
