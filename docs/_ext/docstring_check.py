"""numpydoc validation of the public API's parameters and returns (run by ``make lint``).

Every function in ``hi_widgets.__all__`` and every public method of a public class must
document each parameter (PR01), only parameters it has (PR02), and what it returns
(RT01). The checks are numpydoc's own (:func:`numpydoc.validate.validate`); the set of
names is the package's public API, not every function in its files.

Run: ``PYTHONPATH=. python docs/_ext/docstring_check.py``; exit status 1 lists the problems.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Iterator

from numpydoc.validate import validate

CHECKS = ("PR01", "PR02", "RT01")


def public_routines() -> Iterator[str]:
    """Yield the dotted name of every public function and public method of a public class."""
    import hi_widgets

    for name in hi_widgets.__all__:
        obj = getattr(hi_widgets, name)
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if inspect.isfunction(member) and not attr.startswith("_"):
                    yield f"{obj.__module__}.{obj.__qualname__}.{attr}"
        elif inspect.isroutine(obj):
            yield f"{obj.__module__}.{obj.__qualname__}"


def problems() -> list[str]:
    """Return one ``name: CODE message`` line per failed check."""
    found = []
    for name in public_routines():
        result = validate(name)
        # A generator documents what it yields; numpydoc reads its bare returns as values.
        yields = re.search(r"^\s*Yields\n\s*-+$", result.get("docstring") or "", re.M)
        for code, message in result["errors"]:
            if code == "RT01" and yields:
                continue
            if code in CHECKS:
                found.append(f"{name}: {code} {message}")
    return found


if __name__ == "__main__":
    lines = problems()
    print("\n".join(lines) or f"numpydoc {', '.join(CHECKS)}: public API ok")
    sys.exit(1 if lines else 0)
