"""Cross-references into hi_widgets that name an object other than by its documented name.

Every public object has one page, under its public name (``hi_widgets.FetchResult``). Type
hints and docstrings often name it by the module that defines it
(``hi_widgets.bulk._result.FetchResult``, ``hi_widgets.export.deid.PHI_COLUMNS``) or relative to
the docstring's own module (``:data:`FORMATS``` in ``hi_widgets.export.files``). This resolves
such a reference to the public page when the object is public, and to plain text when the
object exists but is not part of the documented API (a private helper, a module constant).
A reference to something that does not exist still fails the build under ``-n``.

It also decides which members a class page lists: the class's own, and those inherited
from hi_widgets' private base classes, but not ipywidgets' or the standard library's.
"""

from __future__ import annotations

import importlib
import inspect
import re
import sys

from api_reference import public_names
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

_MISSING = object()
_ANNOTATED = object()  # a dataclass or NamedTuple field: declared, but no class attribute
_PUBLIC_IDS: dict[int, str] = {}  # id of a public class or function -> documented name
_PUBLIC_PATHS: dict[str, str] = {}  # defining module + name -> documented name
UNLINKED: set[str] = set()  # references shown as text: existing objects without a page


def _import_object(path: str) -> object:
    """The object a dotted path names, importing modules as needed; ``_MISSING`` if none."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        except Exception:  # importing a module that is not meant to be imported alone
            return _MISSING
        for attr in parts[cut:]:
            try:
                obj = getattr(obj, attr)
            except AttributeError:
                if inspect.isclass(obj) and attr in _annotations(obj):
                    obj = _ANNOTATED
                    continue
                return _MISSING
        return obj
    return _MISSING


def _annotations(cls: type) -> set[str]:
    """Attributes a class declares without a class attribute: fields, ``self.x =``."""
    names = {name for klass in cls.__mro__ for name in getattr(klass, "__annotations__", {})}
    for klass in cls.__mro__:
        if klass.__module__.startswith("hi_widgets"):
            try:
                source = inspect.getsource(klass)
            except (OSError, TypeError):
                continue
            names.update(re.findall(r"self\.([A-Za-z_]\w*)\s*(?::[^=\n]+)?=", source))
    return names


def _unique_elsewhere(target: str) -> str | None:
    """The one place in the loaded hi_widgets modules, or public classes, naming ``target``."""
    first, _, rest = target.partition(".")
    hits: dict[int, str] = {}
    for module_name, module in list(sys.modules.items()):
        if module_name.startswith("hi_widgets") and first in getattr(module, "__dict__", {}):
            obj = vars(module)[first]
            home = getattr(obj, "__module__", None)
            defined = home if inspect.isclass(obj) or inspect.isroutine(obj) else module_name
            hits.setdefault(id(obj), f"{defined}.{target}")
    if not rest:
        for public in _PUBLIC_IDS.values():
            cls = _import_object(public)
            if inspect.isclass(cls) and _import_object(f"{public}.{first}") is not _MISSING:
                hits.setdefault(id(cls) ^ hash(first), f"{public}.{first}")
    return next(iter(hits.values())) if len(hits) == 1 else None


def _import_every_module() -> None:
    """Import every hi_widgets module, so a reference can find what any of them defines."""
    import pkgutil

    import hi_widgets

    for info in pkgutil.walk_packages(hi_widgets.__path__, "hi_widgets."):
        if not info.name.endswith("__main__"):
            importlib.import_module(info.name)


def _index_public() -> None:
    _import_every_module()
    _PUBLIC_IDS.clear()
    _PUBLIC_PATHS.clear()
    for name in public_names():
        obj = _import_object(name.fullname)
        if inspect.isclass(obj) or inspect.isroutine(obj):
            _PUBLIC_IDS[id(obj)] = name.fullname
            _PUBLIC_PATHS[f"{obj.__module__}.{obj.__qualname__}"] = name.fullname
        _PUBLIC_PATHS[f"{name.module}.{name.name}"] = name.fullname


def _public_spelling(path: str) -> str | None:
    """``path`` with its longest public prefix replaced by the documented name."""
    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        prefix = ".".join(parts[:cut])
        public = _PUBLIC_PATHS.get(prefix)
        if public is None:
            obj = _import_object(prefix)
            public = _PUBLIC_IDS.get(id(obj)) if obj is not _MISSING else None
        if public is not None:
            return ".".join([public, *parts[cut:]])
    return None


def _candidates(node) -> list[str]:
    """Full paths a reference may mean, most specific context first."""
    target = node["reftarget"]
    if target.startswith("hi_widgets."):
        return [target]
    contexts = []
    documented = re.search(r"docstring of ([\w.]+)", node.source or "")
    if documented:  # the object whose docstring holds the reference, and its parents
        parts = documented.group(1).split(".")
        contexts += [".".join(parts[:cut]) for cut in range(len(parts), 1, -1)]
        obj = _import_object(documented.group(1))
        module = getattr(obj, "__module__", None)
        if isinstance(module, str):
            contexts.append(module)
    module, cls = node.get("py:module"), node.get("py:class")
    if module and cls:
        contexts.append(f"{module}.{cls}")
    if module:
        contexts.append(module)
    contexts.append("hi_widgets")
    return [f"{context}.{target}" for context in dict.fromkeys(contexts)]


def _resolve(app: Sphinx, env, node, contnode, paths: list[str] | None = None):
    if node.get("refdomain") != "py":
        return None
    first = node["reftarget"].partition(".")[0]
    if first in sys.modules and not first.startswith("hi_widgets"):
        return None  # another project's object: nitpick_ignore_regex decides
    domain = env.get_domain("py")
    existing = None
    paths = paths or _candidates(node)
    for path in paths:
        if not path.startswith("hi_widgets"):
            continue
        obj = _import_object(path)
        if obj is _MISSING:
            continue
        if node["reftype"] == "mod" and inspect.ismodule(obj):
            return contnode  # a module without a section of its own
        public = _public_spelling(path)
        for name in dict.fromkeys(filter(None, (public, path))):
            for reftype in (node["reftype"], "obj"):
                found = domain.resolve_xref(
                    env, node["refdoc"], app.builder, reftype, name, node, contnode
                )
                if found is not None:
                    return found
        existing = existing or path
    if existing is not None:
        UNLINKED.add(existing)
        return contnode
    elsewhere = _unique_elsewhere(node["reftarget"])
    if elsewhere is not None and elsewhere not in paths:
        return _resolve(app, env, node, contnode, paths=[elsewhere])
    return None


def _defined_in_hi_widgets(name: str, obj) -> bool:
    """Whether an hi_widgets class (a public one or a private base) defines ``name`` as ``obj``."""
    unwrapped = getattr(obj, "__func__", obj)
    for public in _PUBLIC_IDS.values():
        cls = _import_object(public)
        for klass in getattr(cls, "__mro__", ()):
            if not klass.__module__.startswith("hi_widgets") or name not in vars(klass):
                continue
            value = vars(klass)[name]
            if value is obj or getattr(value, "__func__", value) is unwrapped:
                return True
    return False


def _skip_foreign_member(app: Sphinx, what: str, name: str, obj, skip: bool, options):
    """On a class page, leave out members inherited from outside hi_widgets."""
    if what not in ("class", "exception") or skip:
        return None
    return None if _defined_in_hi_widgets(name, obj) else True


def _report_unlinked(app: Sphinx, exception) -> None:
    if exception is None and UNLINKED:
        logger.info(
            "references shown as text (they exist, but have no page): %s",
            ", ".join(sorted(UNLINKED)),
        )


def setup(app: Sphinx) -> dict:
    """Register the resolver and the member filter."""
    app.connect("builder-inited", lambda app: _index_public())
    app.connect("missing-reference", _resolve)
    app.connect("autodoc-skip-member", _skip_foreign_member)
    app.connect("build-finished", _report_unlinked)
    sys.modules.setdefault("references", sys.modules[__name__])
    return {"parallel_read_safe": True, "parallel_write_safe": True}
