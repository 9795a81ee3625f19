"""Access to the installed botocore service model of ``medical-imaging``.

Enums, operations and shapes come from here rather than being copied, so the toolkit
follows the model of whatever botocore is installed.
"""

from __future__ import annotations

from functools import cache, lru_cache

from botocore.loaders import create_loader
from botocore.model import ServiceModel, StringShape

SERVICE_NAME = "medical-imaging"


@lru_cache(maxsize=1)
def service_model() -> ServiceModel:
    """Return the botocore service model of ``medical-imaging`` (loaded once).

    Read with botocore's loader (the same files and search path a session uses) rather
    than through ``botocore.session``, which would import the client machinery and cost
    the sandbox and the CLI a tenth of a second at start-up.
    """
    document = create_loader().load_service_model(SERVICE_NAME, "service-2")
    return ServiceModel(document, service_name=SERVICE_NAME)


@cache
def enum_values(shape_name: str) -> tuple[str, ...]:
    """Return the enum values of a string shape, e.g. ``"ImageSetWorkflowStatus"``."""
    shape = service_model().shape_for(shape_name)
    if not isinstance(shape, StringShape):
        raise TypeError(f"{shape_name} is a {shape.type_name} shape, not a string enum")
    return tuple(shape.enum)


def image_set_states() -> tuple[str, ...]:
    """Image set states known to the installed model (ACTIVE, LOCKED, DELETED, ...)."""
    return enum_values("ImageSetState")


def workflow_statuses() -> tuple[str, ...]:
    """Workflow statuses known to the installed model (CREATED, UPDATING, ...)."""
    return enum_values("ImageSetWorkflowStatus")


def storage_tiers() -> tuple[str, ...]:
    """Storage tiers known to the installed model, or an empty tuple for older models."""
    model = service_model()
    return enum_values("StorageTier") if "StorageTier" in model.shape_names else ()
