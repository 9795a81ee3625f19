"""The table of operations the sandbox answers, dispatched generically from the model.

Every operation of the botocore service model is answered by the backend method botocore
would name it in Python (``xform_name``: ``StartDICOMImportJob`` ->
``start_dicom_import_job``), called with the parsed and validated input members as
snake_case keyword arguments (``datastoreId`` -> ``datastore_id``). No hand-written
forwarding layer sits between the wire and the backend: the model says which members an
operation has, and the registry checks once, when it is built, that each backend method
takes exactly those.

Only the model's operation names are looked up, so a backend helper (``versions``,
``settle``, ``datastore_ids``...) is never reachable over HTTP whatever its name. The
registry refuses a backend whose classes provide one operation twice (two operation groups
defining the same method, where Python's method order would silently pick one) and a
method whose keyword arguments are not the operation's input members.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from botocore import xform_name
from botocore.model import OperationModel, ServiceModel

from hi_widgets.sandbox.backend.errors import ServiceError
from hi_widgets.sandbox.backend.operations import Backend

Params = dict[str, Any]
Handler = Callable[[Params], Params]

__all__ = ["Handler", "OperationHandler", "OperationRegistry", "operation_methods"]


def _input_members(operation: OperationModel) -> tuple[list[str], set[str]]:
    shape = operation.input_shape
    if shape is None:
        return [], set()
    return list(shape.members), set(shape.required_members)


def _check_signature(operation: OperationModel, owner: type, method: Callable[..., Any]) -> None:
    """Raise ValueError unless ``method`` takes the operation's members as keywords."""
    where = f"{owner.__name__}.{method.__name__}"
    members, required = _input_members(operation)
    arguments = {xform_name(member): member for member in members}
    parameters = list(inspect.signature(method).parameters.values())[1:]  # past self
    for parameter in parameters:
        if parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise ValueError(
                f"{where} answers {operation.name}: its parameter {parameter.name!r} must be "
                "keyword-only (the registry calls it with the input members as keywords)"
            )
        if parameter.name not in arguments:
            raise ValueError(
                f"{where} takes {parameter.name!r}, which is no input member of "
                f"{operation.name} (members: {', '.join(members) or 'none'})"
            )
    taken = {parameter.name for parameter in parameters}
    missing = [
        member for member in members if member in required and xform_name(member) not in taken
    ]
    if missing:
        raise ValueError(
            f"{where} does not take the required input member(s) of {operation.name}: "
            + ", ".join(f"{member} (as {xform_name(member)!r})" for member in missing)
        )


def operation_methods(model: ServiceModel, backend_type: type) -> dict[str, str]:
    """Return ``{operation: method name}`` for the operations ``backend_type`` answers.

    Parameters
    ----------
    model
        The service model; only its operations are looked up.
    backend_type
        The backend class (its method resolution order is searched).

    Returns
    -------
    dict
        Each model operation whose ``xform_name`` is a method of ``backend_type``.

    Raises
    ------
    ValueError
        If two classes of ``backend_type`` both define an operation's method, or a method's
        keyword arguments are not the operation's input members.
    """
    found: dict[str, str] = {}
    for operation in sorted(model.operation_names):
        name = xform_name(operation)
        owners = [cls for cls in backend_type.__mro__ if name in vars(cls)]
        if not owners:
            continue  # newer than the sandbox: the docs page lists it as not answered
        if len(owners) > 1:
            raise ValueError(
                f"{operation} is provided by both {owners[0].__name__} and {owners[1].__name__}"
            )
        _check_signature(model.operation_model(operation), owners[0], vars(owners[0])[name])
        found[operation] = name
    return found


class OperationHandler:
    """Answers one operation: the parsed params become the backend method's keywords.

    Parameters
    ----------
    operation
        The operation's model.
    method
        The bound backend method answering it.
    """

    def __init__(self, operation: OperationModel, method: Callable[..., Params]) -> None:
        self.operation = operation.name
        self.method = method
        members, _ = _input_members(operation)
        taken = set(inspect.signature(method).parameters)
        self._keywords = {member: xform_name(member) for member in members}
        self._unsupported = {m for m, keyword in self._keywords.items() if keyword not in taken}

    def __repr__(self) -> str:
        return f"OperationHandler({self.operation} -> {self.method.__qualname__})"

    def __call__(self, params: Params) -> Params:
        """Call the backend method with ``params`` (input members, validated by the model)."""
        unsupported = sorted(self._unsupported & params.keys())
        if unsupported:
            raise ServiceError(
                "ValidationException",
                f"{', '.join(unsupported)} of {self.operation} is not available in the "
                "hi_widgets sandbox",
            )
        return self.method(**{self._keywords[member]: value for member, value in params.items()})


class OperationRegistry(Mapping[str, OperationHandler]):
    """Operation name (as in the model, e.g. ``"GetImageSet"``) -> handler.

    Parameters
    ----------
    model
        The service model: the operations looked up and their input members.
    backend
        The backend whose typed methods answer them (see :func:`operation_methods`).

    Raises
    ------
    ValueError
        If the backend provides an operation twice or a method does not take its
        operation's input members.
    """

    def __init__(self, model: ServiceModel, backend: object) -> None:
        self._table = {
            operation: OperationHandler(model.operation_model(operation), getattr(backend, name))
            for operation, name in operation_methods(model, type(backend)).items()
        }

    @classmethod
    def for_backend(cls, model: ServiceModel, backend: Backend) -> OperationRegistry:
        """Build the registry of ``backend`` (the sandbox's :class:`Backend`)."""
        return cls(model, backend)

    def __getitem__(self, operation: str) -> OperationHandler:
        return self._table[operation]

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def __len__(self) -> int:
        return len(self._table)
