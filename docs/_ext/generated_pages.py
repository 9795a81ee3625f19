"""Page fragments generated from the code, so the pages cannot drift from it.

At ``config-inited`` this writes MyST fragments into ``docs/_generated/`` (git ignores it;
Sphinx does not treat it as pages), which the hand-written pages pull in with
``{include}``:

- ``cli.md``: every ``hi-widgets`` command, option and exit status, read from
  :func:`hi_widgets.cli.main.build_parser`;
- ``quotas.md``: :data:`hi_widgets.limits.quotas.PUBLISHED_QUOTAS`;
- ``errors.md``: every exception class of :mod:`hi_widgets.api.errors`, with the message the
  package really produces for it (made by sending a botocore error through
  ``hi_widgets.api.errors.translate``, or a bad identifier through ``hi_widgets.api.ids``);
- ``sandbox-operations.md``: every operation of the installed botocore model, and whether
  the sandbox answers it (a backend method the registry dispatches it to);
- ``phi-kept.md``, ``phi-safe-columns.md``, ``phi-hashed-columns.md``: the allow-list of
  :mod:`hi_widgets.export.deid` and the names it replaces by a keyed hash;
- ``phi-table.md``: table E.1-1 of DICOM PS3.15 as :mod:`hi_widgets.export.deid` holds it, and
  what an export does with each attribute;
- ``benchmarks.md``: each script in ``benchmarks/`` and its docstring (what it measures,
  its targets, how to run it).

A fragment that cannot be made truthfully (an exception class the generator does not
know how to produce, a command that does not state its exit statuses) is a warning, so
``make docs`` fails until the code or this generator is fixed.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import re
from pathlib import Path

from api_reference import write_if_changed
from sphinx.application import Sphinx
from sphinx.util import logging

logger = logging.getLogger(__name__)

FRAGMENT_DIR = "_generated"
ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_DATASTORE = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
EXAMPLE_IMAGE_SET = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
EXAMPLE_REQUEST_ID = "6a0c1a3e-0000-4000-8000-000000000000"


def rst_to_myst(text: str) -> str:
    """Turn the reST inline roles of a docstring (``:class:`X```) into MyST (``{class}`X```)."""
    return re.sub(r":(?:py:)?(\w+):`", r"{py:\1}`", text)


def prose(doc: str) -> str:
    """A docstring without its numpydoc sections (``Examples``, ``Parameters``...)."""
    section = re.search(r"^\S[^\n]*\n-{3,}$", doc, re.MULTILINE)
    return (doc[: section.start()] if section else doc).strip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------- CLI

EXIT_STATUS = re.compile(r"exit status:\s*(.+?)(?:\Z|\n\n)", re.IGNORECASE | re.DOTALL)


def _subcommands(
    parser: argparse.ArgumentParser,
) -> list[tuple[str, str, argparse.ArgumentParser]]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            found += [(name, helps.get(name, ""), sub) for name, sub in action.choices.items()]
    return found


def _option_rows(parser: argparse.ArgumentParser) -> list[list[str]]:
    formatter = parser._get_formatter()
    exclusive = {
        id(action): group
        for group in parser._mutually_exclusive_groups
        for action in group._group_actions
    }
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction | argparse._HelpAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        flags = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{action.dest}`"
        if action.nargs == 0:
            value = ""
        else:
            metavar = formatter._format_args(action, action.metavar or action.dest.upper())
            value = f"`{metavar}`"
        if action.choices is not None and not isinstance(action.choices, dict):
            value = " | ".join(f"`{choice}`" for choice in action.choices)
        notes = []
        if action.required:
            notes.append("required")
        group = exclusive.get(id(action))
        if group is not None:
            others = [a.option_strings[0] for a in group._group_actions if a is not action]
            kind = "one of" if group.required else "not with"
            if group.required:
                notes.append(f"{kind} this and `{'`, `'.join(others)}` is required")
            else:
                notes.append(f"{kind} `{'`, `'.join(others)}`")
        help_text = formatter._expand_help(action) if action.help else ""
        if notes:
            help_text += f" ({'; '.join(notes)})"
        rows.append([flags, value, help_text])
    return rows


def _command_section(title: str, parser: argparse.ArgumentParser, summary: str) -> list[str]:
    out = [f"## `{title}`\n"]
    if summary:
        out.append(summary[0].upper() + summary[1:] + ".\n")
    out.append("```text\n" + parser.format_usage().strip() + "\n```\n")
    if parser.description:
        # The exit statuses get their own line below; say them once.
        ending = EXIT_STATUS.search(parser.description)
        if ending and ending.end() == len(parser.description):
            out.append(_cell(parser.description[: ending.start()]) + "\n")
        else:
            out.append(_cell(parser.description) + "\n")
    out.append(_table(["option", "value", "meaning"], _option_rows(parser)))
    if parser.epilog:
        out.append(_cell(parser.epilog) + "\n")
    # Where a command states its exit statuses: its help, or the function that runs it.
    run = parser.get_default("func")
    where = [parser.description, parser.epilog, inspect.getdoc(run) if run else None]
    stated = EXIT_STATUS.search("\n\n".join(filter(None, where)))
    if stated:
        out.append(f"**Exit status:** {_cell(stated.group(1))}\n")
    else:
        logger.warning(
            "CLI page: `%s` states no exit status (in its description, epilog or the "
            "docstring of the function it runs)",
            title,
        )
    return out


def cli_fragment() -> str:
    """Every command, option and exit status of ``hi-widgets``, from its parser."""
    from hi_widgets.cli.main import build_parser

    parser = build_parser()
    out = [
        "```text\n" + parser.format_usage().strip() + "\n```\n",
        _cell(parser.description or "") + "\n",
        _table(["option", "value", "meaning"], _option_rows(parser)),
        "Every command also takes `-h`/`--help`. A usage error (an unknown option, a "
        "missing or malformed value) exits with status 2 before anything runs; "
        "`hi-widgets` without a command prints its help and exits with 2.\n",
    ]
    for name, summary, sub in _subcommands(parser):
        out += _command_section(f"hi-widgets {name}", sub, summary)
    return "\n".join(out)


# ---------------------------------------------------------------------------------- PHI


def deid_fragment() -> str:
    """Table E.1-1 as hi_widgets holds it, and what an export does with each attribute."""
    from hi_widgets.export.deid import PROFILE, SOURCE, Deidentifier

    # A fixed key: the table only asks what is removed, no UID is replaced here.
    plain, dated = Deidentifier(uid_key="docs"), Deidentifier(uid_key="docs", keep_dates=True)
    rows = []
    for attribute in sorted(PROFILE.values(), key=lambda row: row.tag):
        if attribute.action == "U":
            export = "replaced (keyed hash)"
        elif not plain.removes(attribute.keyword):
            export = "kept"
        elif not dated.removes(attribute.keyword):
            export = "removed (kept with `keep_dates=True`)"
        else:
            export = "removed"
        rows.append([f"`{attribute.tag}`", attribute.keyword, f"`{attribute.action}`", export])
    header = ["Tag", "Keyword", "Basic profile", "In an export"]
    return f"Source: {rst_to_myst(str(SOURCE))}\n\n" + _table(header, rows)


def deid_kept_fragment() -> str:
    """The standard attributes the table does not name that an export keeps."""
    from hi_widgets.export._deid_table import KEPT

    rows = [line.split() for line in KEPT.strip().splitlines()]
    rows = [[f"`{tag}`", keyword] for tag, keyword in sorted(rows)]
    return _table(["Tag", "Keyword"], rows)


def deid_safe_columns_fragment() -> str:
    """The HealthImaging columns an export keeps, and what each one means."""
    from hi_widgets.export.deid import SAFE_COLUMNS

    return _table(["Column", "Meaning"], [[f"`{k}`", v] for k, v in SAFE_COLUMNS.items()])


def deid_hashed_columns_fragment() -> str:
    """The columns of names people choose, which an export replaces by a keyed hash."""
    from hi_widgets.export._deid_names import HASHED_COLUMNS

    return _table(["Column", "What it holds"], [[f"`{k}`", v] for k, v in HASHED_COLUMNS.items()])


# -------------------------------------------------------------------------------- quotas


def quotas_fragment() -> str:
    """The published quota table, with what it means for 1,000 requests."""
    from hi_widgets.limits.quotas import PUBLISHED_QUOTAS

    rows = []
    for operation, quota in PUBLISHED_QUOTAS.items():
        seconds = max(0.0, (1000 - quota.burst) / quota.rate)
        rows.append([f"`{operation}`", f"{quota.rate:g}", f"{quota.burst:g}", f"{seconds:,.0f}"])
    return _table(["operation", "rate (requests/s)", "burst", "seconds for 1,000 requests"], rows)


# -------------------------------------------------------------------------------- errors


def _service_status(code: str) -> str:
    """The HTTP status the service model gives an error code ("" if none)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("medical-imaging")
    try:
        shape = model.shape_for(code)
    except Exception:  # botocore raises NoShapeFoundError, not exported
        return ""
    return str(shape.metadata.get("error", {}).get("httpStatusCode", ""))


def _example_error(cls: type) -> BaseException | None:
    """The exception the package really raises for ``cls``, produced by its own code."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError

    from hi_widgets.api import errors, ids

    if issubclass(cls, errors.InvalidIdentifierError):
        try:
            ids.validate_datastore_id("a1b2c3d4-e5f6")
        except errors.InvalidIdentifierError as error:
            return error
    if cls is errors.HealthImagingError:
        return None
    code = cls.code or ("NewServiceException" if cls is errors.UnknownServiceError else None)
    if code is not None:
        status = int(_service_status(code) or 400)
        cause: Exception = ClientError(
            {
                "Error": {"Code": code, "Message": "(the service's own message)"},
                "ResponseMetadata": {"HTTPStatusCode": status, "RequestId": EXAMPLE_REQUEST_ID},
            },
            "GetImageSet",
        )
    elif cls is errors.CredentialsError:
        cause = NoCredentialsError()
    elif cls is errors.ConnectionFailedError:
        cause = EndpointConnectionError(endpoint_url="https://runtime-medical-imaging.example")
    else:
        return None
    try:
        with errors.translate(
            "GetImageSet", datastoreId=EXAMPLE_DATASTORE, imageSetId=EXAMPLE_IMAGE_SET
        ):
            raise cause
    except errors.HealthImagingError as error:
        return error
    return None


def error_classes() -> list[type]:
    """Every exception class :mod:`hi_widgets.api.errors` defines, base class first."""
    from hi_widgets.api import errors

    found = [
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, errors.HealthImagingError) and obj.__module__ == errors.__name__
    ]
    return sorted(found, key=lambda cls: (cls is not errors.HealthImagingError, cls.__name__))


def errors_fragment() -> str:
    """One section per exception class: when, service code, retryable, the message."""
    out = []
    for cls in error_classes():
        doc = rst_to_myst(prose(inspect.getdoc(cls) or ""))
        bases = ", ".join(
            f"{{py:class}}`~hi_widgets.{base.__name__}`"
            if base.__module__.startswith("hi_widgets")
            else f"`{base.__name__}`"
            for base in cls.__bases__
        )
        out.append(f"## {{py:class}}`~hi_widgets.{cls.__name__}`\n")
        out.append(doc + "\n")
        facts = [f"subclass of {bases}"]
        if cls.code:
            status = _service_status(cls.code)
            facts.append(f"service error `{cls.code}`" + (f" (HTTP {status})" if status else ""))
        facts.append(
            "`retryable` is True: the bulk fetchers retry it, with backoff, before reporting it"
            if cls.retryable
            else "not retried automatically (`retryable` is False)"
        )
        out.append("; ".join(facts) + ".\n")
        error = _example_error(cls)
        if error is not None:
            out.append("What it says (the message for a GetImageSet call):\n")
            out.append("```text\n" + str(error) + "\n```\n")
        elif cls.__name__ != "HealthImagingError":
            logger.warning(
                "errors page: docs/_ext/generated_pages.py cannot produce a %s; teach "
                "_example_error how the package raises it",
                cls.__name__,
            )
    return "\n".join(out)


# ------------------------------------------------------------------------------- sandbox


def sandbox_operations_fragment() -> str:
    """Every operation of the service model: answered by the sandbox or not, its quota."""
    from botocore import xform_name

    from hi_widgets.api.model import service_model
    from hi_widgets.limits.quotas import PUBLISHED_QUOTAS
    from hi_widgets.sandbox.backend.operations import Backend
    from hi_widgets.sandbox.server.registry import operation_methods

    answered = set(operation_methods(service_model(), Backend).values())
    rows = []
    for operation in sorted(service_model().operation_names):
        quota = PUBLISHED_QUOTAS.get(operation)
        rows.append(
            [
                f"`{operation}`",
                "yes" if xform_name(operation) in answered else "**no**",
                f"{quota.rate:g}/s, burst {quota.burst:g}" if quota else "",
            ]
        )
    return _table(["operation (installed botocore model)", "sandbox answers it", "quota"], rows)


# ---------------------------------------------------------------------------- benchmarks


def benchmarks_fragment() -> str:
    """Each benchmark script with its docstring: what it measures, its targets, its run."""
    out = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if not doc:
            logger.warning("benchmarks page: %s has no docstring", path.name)
            continue
        title, _, body = doc.partition("\n")
        out.append(f"## `benchmarks/{path.name}`\n")
        out.append(rst_to_myst(title) + "\n")
        out.append(rst_to_myst(body.strip()) + "\n")
    return "\n".join(out)


# ------------------------------------------------------------------------------- driver

FRAGMENTS = {
    "cli.md": cli_fragment,
    "quotas.md": quotas_fragment,
    "errors.md": errors_fragment,
    "benchmarks.md": benchmarks_fragment,
    "sandbox-operations.md": sandbox_operations_fragment,
    "phi-table.md": deid_fragment,
    "phi-kept.md": deid_kept_fragment,
    "phi-safe-columns.md": deid_safe_columns_fragment,
    "phi-hashed-columns.md": deid_hashed_columns_fragment,
}


def generate(outdir: Path) -> list[Path]:
    """Write every fragment into ``outdir``; return their paths."""
    outdir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, make in FRAGMENTS.items():
        path = outdir / name
        write_if_changed(
            path, f"<!-- generated by docs/_ext/generated_pages.py; do not edit -->\n\n{make()}"
        )
        written.append(path)
    return written


def _on_config_inited(app: Sphinx, config) -> None:
    generate(Path(app.srcdir) / FRAGMENT_DIR)


def setup(app: Sphinx) -> dict:
    """Register the fragment generator."""
    importlib.import_module("hi_widgets")  # fail early if the package is not importable
    app.connect("config-inited", _on_config_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
