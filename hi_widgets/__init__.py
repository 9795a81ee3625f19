"""hi_widgets: Jupyter widgets, DataFrames and plots for AWS HealthImaging version histories."""

from ._version import __version__
from .client import make_client
from .errors import (
    AccessDeniedError,
    ConflictError,
    ConnectionFailedError,
    CredentialsError,
    HealthImagingError,
    InternalServerError,
    InvalidIdentifierError,
    ResourceNotFoundError,
    ServiceQuotaExceededError,
    ThrottlingError,
    UnknownServiceError,
    ValidationError,
)
from .fetch import (
    get_image_set,
    get_image_set_metadata,
    iter_versions,
    list_datastores,
    search_image_sets,
)
from .records import RECORD_FIELDS

__all__ = [
    "RECORD_FIELDS",
    "AccessDeniedError",
    "ConflictError",
    "ConnectionFailedError",
    "CredentialsError",
    "HealthImagingError",
    "InternalServerError",
    "InvalidIdentifierError",
    "ResourceNotFoundError",
    "ServiceQuotaExceededError",
    "ThrottlingError",
    "UnknownServiceError",
    "ValidationError",
    "__version__",
    "get_image_set",
    "get_image_set_metadata",
    "iter_versions",
    "list_datastores",
    "make_client",
    "search_image_sets",
]
