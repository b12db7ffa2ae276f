"""Domain exceptions raised by the core and translated at the edge (HTTP, SMS, CLI)."""


class WattdeskError(Exception):
    """Base of every domain error."""


class NotFound(WattdeskError):
    """A named thing does not exist."""


class UnknownAccount(NotFound):
    pass


class Conflict(WattdeskError):
    """The change conflicts with what is already stored (a duplicate, a stale state)."""


class PermissionDenied(WattdeskError):
    """The actor's role does not allow this action."""


class InvalidInput(WattdeskError):
    """Input that a person typed or a file held is not acceptable; the message says why."""
