"""Exceptions raised by hi_widgets, one per service error, each with an actionable message.

Every public function raises these instead of botocore's ``ClientError``; the original
botocore exception is chained as ``__cause__``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import (
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    TokenRetrievalError,
)
from botocore.exceptions import ConnectionError as BotocoreConnectionError

_IAM_PREFIX = "medical-imaging"
_LABELS = {
    "datastoreId": "datastore",
    "imageSetId": "image set",
    "versionId": "version",
    "imageFrameId": "image frame",
    "jobId": "import job",
}


class HealthImagingError(Exception):
    """Base class: a HealthImaging call (or its input) failed.

    Examples
    --------
    >>> try:
    ...     hw.get_image_set(client, datastore_id, "0" * 32)
    ... except hw.HealthImagingError as error:
    ...     print(type(error).__name__, error.operation, error.retryable)
    ResourceNotFoundError GetImageSet False
    """

    retryable: bool = False
    code: str | None = None

    def __init__(
        self,
        message: str,
        *,
        operation: str | None = None,
        identifiers: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        service_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.operation = operation
        self.identifiers = {k: v for k, v in (identifiers or {}).items() if v is not None}
        self.request_id = request_id
        self.service_message = service_message

    def __reduce__(self) -> tuple[Any, ...]:
        # Picklable with every attribute (a child process sends it to its parent); the
        # botocore exception it was raised from is not carried.
        return _restore_error, (type(self), self.args, self.__dict__)

    def details(self) -> str:
        """Return operation, identifiers, request id and the service's own words.

        Returns
        -------
        str
            One ``name: value`` line per detail known.
        """
        lines = [f"error: {type(self).__name__}" + (f" ({self.code})" if self.code else "")]
        if self.operation:
            lines.append(f"operation: {self.operation}")
        lines += [f"{key}: {value}" for key, value in self.identifiers.items()]
        if self.request_id:
            lines.append(f"request id: {self.request_id}")
        if self.service_message:
            lines.append(f"service message: {self.service_message}")
        lines.append(f"retryable: {self.retryable}")
        return "\n".join(lines)


def _restore_error(
    kind: type[HealthImagingError], args: tuple[Any, ...], state: dict[str, Any]
) -> HealthImagingError:
    error = kind.__new__(kind)
    error.args = args
    error.__dict__.update(state)
    return error


class ThrottlingError(HealthImagingError):
    """The request rate exceeded the account's quota for the operation.

    Examples
    --------
    >>> sb.set_faults(throttle_rate=1.0)  # every request throttled
    >>> try:
    ...     hw.get_image_set(sb.client(max_attempts=1), datastore_id, image_set_id)
    ... except hw.ThrottlingError as error:
    ...     print(error.code, error.retryable)
    ThrottlingException True
    >>> sb.set_faults()
    """

    retryable = True
    code = "ThrottlingException"


class ConflictError(HealthImagingError):
    """The image set is being changed by another operation, or the version is stale.

    Examples
    --------
    >>> hw.ConflictError.code, hw.ConflictError.retryable
    ('ConflictException', False)
    >>> issubclass(hw.ConflictError, hw.HealthImagingError)
    True
    """

    code = "ConflictException"


class AccessDeniedError(HealthImagingError):
    """The caller's IAM policy does not allow the operation on the resource.

    Examples
    --------
    >>> sb.deny("ListImageSetVersions")  # as an IAM policy without that action would
    >>> try:
    ...     next(hw.iter_versions(client, datastore_id, image_set_id, strategy="list"))
    ... except hw.AccessDeniedError as error:
    ...     print(error.code)
    AccessDeniedException
    >>> sb.allow("ListImageSetVersions")
    """

    code = "AccessDeniedException"


class ValidationError(HealthImagingError):
    """The service rejected the request's parameters.

    Examples
    --------
    >>> hw.ValidationError.code, hw.ValidationError.retryable
    ('ValidationException', False)
    """

    code = "ValidationException"


class InternalServerError(HealthImagingError):
    """HealthImaging failed internally; usually transient.

    Examples
    --------
    >>> sb.set_faults(error_rate=1.0)  # every request fails with a 500
    >>> try:
    ...     hw.get_image_set(sb.client(max_attempts=1), datastore_id, image_set_id)
    ... except hw.InternalServerError as error:
    ...     print(error.code, error.retryable)
    InternalServerException True
    >>> sb.set_faults()
    """

    retryable = True
    code = "InternalServerException"


class ResourceNotFoundError(HealthImagingError):
    """A datastore, image set or version does not exist.

    Examples
    --------
    >>> try:
    ...     hw.get_image_set(client, datastore_id, image_set_id, version_id=999)
    ... except hw.ResourceNotFoundError as error:
    ...     print(error.code, error.identifiers["versionId"])
    ResourceNotFoundException 999
    """

    code = "ResourceNotFoundException"


class ServiceQuotaExceededError(HealthImagingError):
    """A service quota (not a rate) is exhausted, e.g. concurrent updates.

    Examples
    --------
    >>> hw.ServiceQuotaExceededError.code
    'ServiceQuotaExceededException'
    """

    code = "ServiceQuotaExceededException"


class UnknownServiceError(HealthImagingError):
    """The service answered with an error this version of hi_widgets does not know.

    Examples
    --------
    >>> hw.UnknownServiceError.retryable
    False
    """


class ConnectionFailedError(HealthImagingError):
    """The endpoint could not be reached or dropped the connection.

    Examples
    --------
    >>> sb.set_faults(drop_rate=1.0)  # every connection dropped
    >>> try:
    ...     hw.get_image_set(sb.client(max_attempts=1), datastore_id, image_set_id)
    ... except hw.ConnectionFailedError as error:
    ...     print(type(error).__name__, error.retryable)
    ConnectionFailedError True
    >>> sb.set_faults()
    """

    retryable = True


class CredentialsError(HealthImagingError):
    """No usable AWS credentials, profile or region.

    Examples
    --------
    >>> no_keys = hw.make_client(region="us-east-1", endpoint_url=sb.endpoint_url)
    >>> try:
    ...     hw.list_datastores(no_keys)  # no credentials configured here
    ... except hw.CredentialsError as error:
    ...     print(error.operation)
    ListDatastores
    """


class InvalidIdentifierError(HealthImagingError, ValueError):
    """An identifier was rejected before any call was made.

    ``field``, ``value`` and ``expected`` describe the (first) bad identifier; ``message``,
    if given, replaces the one built from them (e.g. to name every bad item of a list).

    Examples
    --------
    >>> try:
    ...     hw.get_image_set(client, datastore_id, "not-an-id")  # no request is sent
    ... except hw.InvalidIdentifierError as error:
    ...     print(error.field, "|", error)
    imageSetId | Invalid imageSetId: 'not-an-id'. Expected 32 characters, ... (got 9 characters).
    """

    def __init__(
        self, field: str, value: Any, expected: str, *, message: str | None = None
    ) -> None:
        if message is None:
            shown = repr(value)
            if len(shown) > 48:
                shown = shown[:40] + "…" + shown[-6:] + f" ({len(str(value))} characters)"
            message = f"Invalid {field}: {shown}. Expected {expected}."
        super().__init__(message, identifiers={field: None})
        self.field = field
        self.value = value
        self.expected = expected


_BY_CODE: dict[str, type[HealthImagingError]] = {
    cls.code: cls
    for cls in (
        ThrottlingError,
        ConflictError,
        AccessDeniedError,
        ValidationError,
        InternalServerError,
        ResourceNotFoundError,
        ServiceQuotaExceededError,
    )
}
_BY_CODE["Throttling"] = ThrottlingError
_BY_CODE["TooManyRequestsException"] = ThrottlingError
# AWS's common authentication errors (a wrong secret key, an unknown access key id).
_BY_CODE["InvalidSignatureException"] = AccessDeniedError
_BY_CODE["UnrecognizedClientException"] = AccessDeniedError

SANDBOX_KEYS_HINT = (
    "A local sandbox makes new keys at every start: paste the export lines it printed "
    "this time (or use `sb.client()`), then retry."
)


def _describe(identifiers: Mapping[str, Any]) -> str:
    parts = [f"{_LABELS.get(k, k)} {v}" for k, v in identifiers.items() if v is not None]
    return ", ".join(parts) if parts else "the request"


_NOT_FOUND_HINTS = {
    "versionId": "Versions are numbered from 1 to the latest; fetch all versions to see "
    "which exist.",
    "imageFrameId": "Frame ids come from the metadata of this image set (ImageFrames[].ID).",
    "imageSetId": "Check the image set id, and that it belongs to this datastore.",
    "datastoreId": "Check the datastore id and the region (datastores are regional).",
    "jobId": "Check the job id, and that the job was started in this datastore.",
    None: "Check the identifiers and the region.",
}


_CONTAINERS = {
    "imageFrameId": ("imageSetId", "datastoreId"),
    "versionId": ("imageSetId", "datastoreId"),
    "imageSetId": ("datastoreId",),
    "jobId": ("datastoreId",),
}


def _not_found_key(identifiers: Mapping[str, Any], service_message: str) -> str | None:
    """Return the identifier the service says is missing, else the most specific one."""
    sent = [
        k
        for k in ("versionId", "imageFrameId", "jobId", "imageSetId", "datastoreId")
        if identifiers.get(k)
    ]
    said = service_message.lower()
    for key in sent:
        if _LABELS[key] in said or key.lower() in said:
            return key
    return sent[0] if sent else None


def _is_signature_problem(service_message: str) -> bool:
    said = service_message.lower()
    return "signature" in said or "security token" in said or "access key id" in said


def _message(
    cls: type[HealthImagingError],
    operation: str,
    identifiers: Mapping[str, Any],
    service_message: str,
) -> str:
    action = f"{_IAM_PREFIX}:{operation}"
    where = _describe(identifiers)
    said = f" (service: {service_message})" if service_message else ""
    if cls is AccessDeniedError and _is_signature_problem(service_message):
        hint = (
            SANDBOX_KEYS_HINT
            if "sandbox" in service_message.lower()
            else "Check the secret access key (and that this machine's clock is right)."
        )
        return (
            f"The credentials were refused for {operation}: their signature does not "
            f"match. {hint}{said}"
        )
    if cls is AccessDeniedError:
        return (
            f"Access denied: your credentials may not call {action} on {where}. "
            f"Ask an administrator to allow the IAM action {action}, or use another "
            f"profile.{said}"
        )
    if cls is ResourceNotFoundError:
        key = _not_found_key(identifiers, service_message)
        subject = f"{_LABELS[key]} {identifiers[key]}" if key else "the resource"
        # Only what contains the missing resource scopes it: an image set is in a
        # datastore, never the other way round.
        containers = _CONTAINERS.get(key, ()) if key else ()
        others = {k: identifiers[k] for k in containers if identifiers.get(k)}
        scope = f" in {_describe(others)}" if others else ""
        return f"Not found: {subject}{scope} ({operation}). {_NOT_FOUND_HINTS[key]}{said}"
    if cls is ThrottlingError:
        return (
            f"Throttled: {operation} exceeded the account's request rate quota. Wait a few "
            f"seconds and retry, fetch with fewer workers, or request a higher quota in "
            f"Service Quotas.{said}"
        )
    if cls is ConflictError:
        return (
            f"Conflict on {where}: another operation (update, copy, delete or import) is "
            f"changing it, or the version given is no longer the latest. Wait until its "
            f"workflow status settles, then retry with the latest version.{said}"
        )
    if cls is ValidationError:
        return (
            f"The service rejected the {operation} request on {where} as invalid. Check the "
            f"identifiers and parameters.{said}"
        )
    if cls is InternalServerError:
        return (
            f"HealthImaging had an internal error during {operation} on {where}. This is "
            f"usually temporary: retry in a moment; if it persists, contact AWS Support "
            f"with the request id.{said}"
        )
    if cls is ServiceQuotaExceededError:
        return (
            f"A service quota was exceeded by {operation} on {where}. Wait for running "
            f"operations to finish or request a quota increase.{said}"
        )
    return f"{operation} on {where} failed.{said}"


def from_client_error(
    error: ClientError, operation: str, identifiers: Mapping[str, Any] | None = None
) -> HealthImagingError:
    """Map a botocore ``ClientError`` to the matching :class:`HealthImagingError`."""
    identifiers = dict(identifiers or {})
    info = error.response.get("Error", {})
    code = str(info.get("Code") or "")
    service_message = str(info.get("Message") or error.response.get("message") or "")
    cls = _BY_CODE.get(code, UnknownServiceError)
    if cls is UnknownServiceError:
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status and status >= 500:
            cls = InternalServerError
    exc = cls(
        _message(cls, operation, identifiers, service_message),
        operation=operation,
        identifiers=identifiers,
        request_id=error.response.get("ResponseMetadata", {}).get("RequestId"),
        service_message=service_message,
    )
    if cls is UnknownServiceError:
        exc.code = code or None
    return exc


_CREDENTIAL_ERRORS = (
    NoCredentialsError,
    PartialCredentialsError,
    TokenRetrievalError,
    ProfileNotFound,
    NoRegionError,
)
# Refused or timed-out connections, dropped connections and read timeouts.
_CONNECTION_ERRORS = (BotocoreConnectionError, HTTPClientError)

CREDENTIALS_HINT = (
    "Configure credentials (`aws configure`, `aws sso login --profile NAME`, or the "
    "AWS_PROFILE / AWS_ACCESS_KEY_ID environment variables), or work offline against "
    "the local sandbox: `hi_widgets.sandbox.start()`."
)


@contextlib.contextmanager
def translate(operation: str, **identifiers: Any) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into hi_widgets errors."""
    try:
        yield
    except ClientError as error:
        raise from_client_error(error, operation, identifiers) from error
    except _CREDENTIAL_ERRORS as error:
        raise CredentialsError(
            f"{operation} could not be signed: {error}. {CREDENTIALS_HINT}",
            operation=operation,
            identifiers=identifiers,
        ) from error
    except _CONNECTION_ERRORS as error:
        raise ConnectionFailedError(
            f"Could not reach HealthImaging for {operation}: {error}. Check the network, "
            f"the region and the endpoint URL.",
            operation=operation,
            identifiers=identifiers,
        ) from error
