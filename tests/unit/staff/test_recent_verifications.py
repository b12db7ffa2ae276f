"""The memory of passwords just verified (billing_core/staff/passwords.py): keyed by the
username, the password and the stored hash together; it expires; it is bounded; it holds no
password."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from billing_core.staff.passwords import RecentVerifications

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def test_a_verification_is_remembered_for_its_ttl_only() -> None:
    recent = RecentVerifications(ttl=timedelta(minutes=2))
    recent.remember("li", "secret password", "$argon2id$one", T0)
    assert recent.seen("li", "secret password", "$argon2id$one", T0 + timedelta(seconds=119))
    assert not recent.seen("li", "secret password", "$argon2id$one", T0 + timedelta(minutes=2))


def test_another_password_user_or_stored_hash_is_not_seen() -> None:
    recent = RecentVerifications()
    recent.remember("li", "secret password", "$argon2id$one", T0)
    assert not recent.seen("li", "secret passworD", "$argon2id$one", T0)
    assert not recent.seen("lin", "secret password", "$argon2id$one", T0)
    assert not recent.seen("li", "secret password", "$argon2id$two", T0)  # password changed
    # The separator cannot be shifted between the parts.
    recent.remember("a", "b\0c", "h", T0)
    assert not recent.seen("a\0b", "c", "h", T0)


def test_it_is_bounded_and_holds_no_password() -> None:
    recent = RecentVerifications(capacity=2)
    for name in ("a", "b", "c"):
        recent.remember(name, "secret password", "h", T0)
    assert len(recent) == 2 and not recent.seen("a", "secret password", "h", T0)
    assert all(b"secret" not in key for key in recent._until)


def test_two_processes_key_differently() -> None:
    one, two = RecentVerifications(), RecentVerifications()
    one.remember("li", "pw", "h", T0)
    assert not two.seen("li", "pw", "h", T0)
