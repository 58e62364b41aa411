"""The one place that turns domain errors into gRPC statuses with google.rpc details."""

from __future__ import annotations

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from mesh import errors

STATUS_DETAILS_KEY = "grpc-status-details-bin"
# gRPC's server pushback (gRFC A6): a value that is not a non-negative integer tells the client's
# channel not to retry the call, whatever its retry policy says.
RETRY_PUSHBACK_KEY = "grpc-retry-pushback-ms"
NO_RETRY: tuple[tuple[str, str], ...] = ((RETRY_PUSHBACK_KEY, "-1"),)

_CODES: dict[type[errors.DomainError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def grpc_code(exc: errors.DomainError) -> grpc.StatusCode:
    """Return the gRPC code of a domain error (INTERNAL for the bare base class)."""
    for cls in type(exc).__mro__:
        if cls in _CODES:
            return _CODES[cls]
    return grpc.StatusCode.INTERNAL


def rich_status(exc: errors.DomainError, *, domain: str) -> status_pb2.Status:
    """Return the google.rpc.Status of a domain error: ErrorInfo always, BadRequest for fields."""
    code = grpc_code(exc)
    info = error_details_pb2.ErrorInfo(reason=exc.reason, domain=domain, metadata=exc.metadata)
    details = [_pack(info)]
    if exc.violations:
        bad_request = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in exc.violations
            ]
        )
        details.append(_pack(bad_request))
    return status_pb2.Status(code=code.value[0], message=exc.message, details=details)


def internal_status(message: str = "internal error") -> status_pb2.Status:
    """Return the status for a failure the caller cannot act on (nothing internal leaks)."""
    return status_pb2.Status(code=code_pb2.INTERNAL, message=message)


def details_metadata(status: status_pb2.Status) -> tuple[tuple[str, bytes], ...]:
    """Return the trailing metadata that carries a rich status to the client."""
    return ((STATUS_DETAILS_KEY, status.SerializeToString()),)


def status_from_metadata(
    code: grpc.StatusCode, message: str, trailing: object
) -> status_pb2.Status:
    """Return the rich status a peer sent, or a plain one built from code and message."""
    for key, value in trailing or ():  # type: ignore[attr-defined]
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            return status_pb2.Status.FromString(value)
    return status_pb2.Status(code=code.value[0], message=message)


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed
