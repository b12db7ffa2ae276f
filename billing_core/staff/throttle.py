"""Back-off for failed sign-ins: after a few failures of one key (a username, a client
address) further attempts are refused for a while, the wait doubling with each further
failure up to a cap. The rule is pure (plain values and a time passed in); `Throttle` is the
small in-process table that applies it to many keys.

Refusing costs a dictionary look-up: no password hash, no database. The table lives in one
process: deployments with several web workers multiply the allowance by their number."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta


@dataclass(frozen=True)
class BackOff:
    """The rule for one kind of key."""

    free_failures: int  # failures allowed before the first wait
    first_delay: timedelta  # the wait after the failure that reaches free_failures
    max_delay: timedelta  # the wait never grows beyond this
    forget_after: timedelta  # failures are forgotten once none has come for this long

    def delay(self, failures: int) -> timedelta | None:
        """The wait after the `failures`-th failure in a row (None: no wait yet)."""
        if failures < self.free_failures:
            return None
        doublings = failures - self.free_failures
        if doublings >= 32:  # far past any sane cap; keeps the number small
            return self.max_delay
        return min(self.first_delay * 2**doublings, self.max_delay)


# A person mistypes a few times; a script guessing gets one try per wait, and after about ten
# more failures one every 15 minutes (about 100 a day).
USER_BACKOFF = BackOff(
    free_failures=5,
    first_delay=timedelta(seconds=1),
    max_delay=timedelta(minutes=15),
    forget_after=timedelta(hours=24),
)
# An address may be an office behind one NAT: more failures allowed, forgotten sooner.
ADDRESS_BACKOFF = BackOff(
    free_failures=20,
    first_delay=timedelta(seconds=1),
    max_delay=timedelta(minutes=15),
    forget_after=timedelta(hours=1),
)
# Once a key has failed, at most this wait is asked of an attempt refused only because
# others of the same key are still being checked.
BUSY_RETRY = timedelta(seconds=1)


@dataclass(frozen=True)
class Attempts:
    """One key's recent sign-in attempts."""

    failures: int = 0  # in a row, not yet forgotten
    in_flight: int = 0  # admitted, not yet decided
    last_failure: datetime | None = None
    locked_until: datetime | None = None


def current(attempts: Attempts, now: datetime, rule: BackOff) -> Attempts:
    """`attempts` with its failures forgotten if none has come for `rule.forget_after` and
    no wait is running."""
    if (
        attempts.failures
        and attempts.last_failure is not None
        and now - attempts.last_failure >= rule.forget_after
        and (attempts.locked_until is None or attempts.locked_until <= now)
    ):
        return replace(attempts, failures=0, last_failure=None, locked_until=None)
    return attempts


def wait(attempts: Attempts, now: datetime, rule: BackOff) -> timedelta | None:
    """How long before an attempt of this key may be checked (None: now). While earlier
    failures of the key are still being counted, attempts in flight count as failures to
    come, so that a burst cannot run many guesses past the allowance at once."""
    attempts = current(attempts, now, rule)
    if attempts.locked_until is not None and attempts.locked_until > now:
        return attempts.locked_until - now
    busy = attempts.in_flight and attempts.failures
    if busy and attempts.failures + attempts.in_flight >= rule.free_failures:
        return BUSY_RETRY
    return None


def admitted(attempts: Attempts, now: datetime, rule: BackOff) -> Attempts:
    """The key with one more attempt being checked."""
    attempts = current(attempts, now, rule)
    return replace(attempts, in_flight=attempts.in_flight + 1)


def failed(attempts: Attempts, now: datetime, rule: BackOff) -> Attempts:
    """The key after one of its attempts in flight failed."""
    attempts = current(attempts, now, rule)
    failures = attempts.failures + 1
    delay = rule.delay(failures)
    return Attempts(
        failures=failures,
        in_flight=max(attempts.in_flight - 1, 0),
        last_failure=now,
        locked_until=now + delay if delay is not None else attempts.locked_until,
    )


def succeeded(attempts: Attempts, *, forgive: bool) -> Attempts:
    """The key after one of its attempts in flight succeeded: `forgive` forgets its failures
    (a user who signed in); an address keeps them (one good sign-in from it says nothing of
    the guesses at other users' passwords made from it)."""
    in_flight = max(attempts.in_flight - 1, 0)
    if forgive:
        return Attempts(in_flight=in_flight)
    return replace(attempts, in_flight=in_flight)


def withdrawn(attempts: Attempts) -> Attempts:
    """The key after one of its attempts in flight ended without an answer (an error)."""
    return replace(attempts, in_flight=max(attempts.in_flight - 1, 0))


def locks_out(before: Attempts, after: Attempts, rule: BackOff) -> bool:
    """Whether this failure is the one that locked the key out: the first wait of a run of
    failures. Later, longer waits of the same run are not new lock-outs."""
    return before.failures < rule.free_failures <= after.failures


class Throttle:
    """The rule applied to many keys, in memory, for one process (not thread-safe: the web
    app calls it from its event loop only). At most `capacity` keys are kept: past that, the
    longest untouched are dropped (a flood of made-up names cannot grow it without bound)."""

    def __init__(self, rule: BackOff, *, capacity: int = 50_000) -> None:
        self.rule = rule
        self.capacity = capacity
        self._keys: OrderedDict[str, Attempts] = OrderedDict()

    def attempts(self, key: str) -> Attempts:
        return self._keys.get(key, Attempts())

    def wait(self, key: str, now: datetime) -> timedelta | None:
        found = self._keys.get(key)
        return None if found is None else wait(found, now, self.rule)

    def admit(self, key: str, now: datetime) -> None:
        self._store(key, admitted(self.attempts(key), now, self.rule))

    def fail(self, key: str, now: datetime) -> bool:
        """Count a failure; True when it locked the key out (see `locks_out`)."""
        before = current(self.attempts(key), now, self.rule)
        after = failed(before, now, self.rule)
        self._store(key, after)
        return locks_out(before, after, self.rule)

    def succeed(self, key: str, *, forgive: bool) -> None:
        self._store(key, succeeded(self.attempts(key), forgive=forgive))

    def withdraw(self, key: str) -> None:
        self._store(key, withdrawn(self.attempts(key)))

    def _store(self, key: str, attempts: Attempts) -> None:
        if attempts == Attempts():
            self._keys.pop(key, None)
            return
        self._keys[key] = attempts
        self._keys.move_to_end(key)
        while len(self._keys) > self.capacity:
            self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)
