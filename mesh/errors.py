"""The domain error tree every service builds on; mesh.status maps it to gRPC codes in one place.

Domain code raises these (or a service's subclasses from its errors.py) and never imports grpc:

- InvalidArgument: a field breaks its rule (carries the field violations).
- Unauthenticated: no caller, or a bad token or credentials.
- PermissionDenied: the caller may not do this.
- NotFound: the thing does not exist, or the caller may not know it does.
- AlreadyExists: a unique name or key is taken.
- FailedPrecondition: the thing is not in a state that allows this.
- ResourceExhausted: a rate or quota limit was hit.
- Unavailable: a dependency could not be reached; the caller may retry.
- PeerUnavailable: a peer this server called did not answer in time; retry later, not at once.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    """One field of a request and what is wrong with it."""

    field: str
    description: str


class DomainError(Exception):
    """A failure the caller should see, with a stable UPPER_SNAKE_CASE reason."""

    reason = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        violations: list[FieldViolation] | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.violations = violations or []
        self.metadata = metadata or {}


class InvalidArgument(DomainError):
    """A request field breaks its rule."""

    reason = "INVALID_ARGUMENT"

    @classmethod
    def field(cls, field: str, description: str, *, reason: str | None = None) -> InvalidArgument:
        """Return the error for one bad field, with the field named in message and details."""
        return cls(
            f"{field}: {description}",
            reason=reason,
            violations=[FieldViolation(field, description)],
        )


class Unauthenticated(DomainError):
    """No caller, or a bad token or bad credentials."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(DomainError):
    """The caller may not do this."""

    reason = "PERMISSION_DENIED"


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know it does."""

    reason = "NOT_FOUND"


class AlreadyExists(DomainError):
    """A unique name or key is taken."""

    reason = "ALREADY_EXISTS"


class FailedPrecondition(DomainError):
    """The thing is not in a state that allows this."""

    reason = "FAILED_PRECONDITION"


class ResourceExhausted(DomainError):
    """A rate or quota limit was hit."""

    reason = "RESOURCE_EXHAUSTED"


class Unavailable(DomainError):
    """A dependency could not be reached; retrying may help."""

    reason = "UNAVAILABLE"
    # Whether the caller's channel may send the call again at once (mesh.clients' retry policy).
    retry_at_once = True


class PeerUnavailable(Unavailable):
    """A peer this server called gave no answer within its deadline, after this server's own
    channel retried it: the wait is spent, so callers up the chain must not each send the call
    again at once (four attempts a hop multiply down the chain); the end client retries later."""

    reason = "PEER_UNAVAILABLE"
    retry_at_once = False
