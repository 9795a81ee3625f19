"""The explicit table of operations the sandbox answers.

The server dispatches only through an :class:`OperationRegistry`, built from the
``Responses`` classes in :data:`PROVIDERS`; a method of the backend that no ``Responses``
class exposes is never reachable over HTTP. See :mod:`..backend.operations` for how
another module adds operations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from botocore import xform_name
from botocore.model import ServiceModel

from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.server.dicom_responses import DicomImportResponses
from hi_widgets.sandbox.server.responses import HealthImagingResponses, Responses

Handler = Callable[[dict[str, Any]], dict[str, Any]]

PROVIDERS: tuple[type[Responses], ...] = (HealthImagingResponses, DicomImportResponses)
"""The ``Responses`` classes whose operations the sandbox answers."""


class OperationRegistry(Mapping[str, Handler]):
    """Operation name (as in the model, e.g. ``"GetImageSet"``) -> handler.

    Parameters
    ----------
    model
        The service model; every registered operation must be one of its operations.
    providers
        ``Responses`` instances; their public methods are the operations.

    Raises
    ------
    ValueError
        If a public method is not an operation of the model, or two providers answer the
        same operation.
    """

    def __init__(self, model: ServiceModel, providers: Iterable[Responses]) -> None:
        by_method = {xform_name(name): name for name in model.operation_names}
        table: dict[str, Handler] = {}
        owners: dict[str, str] = {}
        for provider in providers:
            owner = type(provider).__name__
            for method in provider.operation_methods():
                operation = by_method.get(method)
                if operation is None:
                    raise ValueError(
                        f"{owner}.{method} is public but {model.service_name} has no such "
                        "operation; make it private (leading underscore)"
                    )
                if operation in table:
                    raise ValueError(
                        f"{operation} is provided by both {owners[operation]} and {owner}"
                    )
                table[operation] = getattr(provider, method)
                owners[operation] = owner
        self._table = table

    @classmethod
    def for_backend(
        cls,
        model: ServiceModel,
        backend: Backend,
        providers: Iterable[type[Responses]] = PROVIDERS,
    ) -> OperationRegistry:
        """Build the registry of ``providers`` acting on ``backend``."""
        return cls(model, [provider(backend) for provider in providers])

    def __getitem__(self, operation: str) -> Handler:
        return self._table[operation]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
