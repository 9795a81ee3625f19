"""The service error raised inside the sandbox and turned into the wire form."""

from __future__ import annotations


class ServiceError(Exception):
    """A HealthImaging error answered to the client.

    Parameters
    ----------
    code
        The error shape name, e.g. ``"ValidationException"``; the HTTP status comes from
        the service model's ``error`` trait of that shape.
    message
        The human-readable ``message`` of the JSON body.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def validation_error(message: str) -> ServiceError:
    """Return a ValidationException."""
    return ServiceError("ValidationException", message)


def not_found(message: str) -> ServiceError:
    """Return a ResourceNotFoundException."""
    return ServiceError("ResourceNotFoundException", message)


def conflict(message: str) -> ServiceError:
    """Return a ConflictException."""
    return ServiceError("ConflictException", message)
