"""Checkpoints: each completed image set appended durably, so a rerun fetches only the rest.

The file is JSON Lines, owner-only. The first line names the call, a fingerprint of its
inputs and a random key made for this checkpoint; every further line is one completed
image set, ``{"item": [datastoreId, imageSetId], "records": [...], "hmac": "<hex>"}``,
written, flushed and fsynced before the image set counts as done. Failed image sets are
not written, so a rerun retries them.

Integrity
---------
``hmac`` is HMAC-SHA256, under the header's key, of the line's own bytes up to the
``, "hmac"`` member (closed with ``}``). A line that does not verify is skipped with a
warning naming it, and its image set is fetched again. This detects damage (flipped or
lost bytes, lines cut or joined, a line pasted from another checkpoint) and casual
edits (a value changed by hand). It does not stop someone who can read the file: the
key is in it. Owner-only permissions are what keep others from reading or writing it.

A process killed mid-write leaves at most one torn last line (no newline yet): it is
dropped, and cut off the file, on the next open.

A full or failing disk
----------------------
If a line cannot be written (ENOSPC, EIO...), the torn bytes are cut off, nothing more is
written, and a warning names the file and the error (:attr:`Checkpoint.warnings`). The call
goes on in memory and returns everything it fetched; the file still holds the image sets
completed before the failure, so a rerun with it fetches only the rest.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import threading
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from hi_widgets.api.items import Item
from hi_widgets.api.records import TIMESTAMP_FIELDS, ImageSetRecord
from hi_widgets.bulk._pool import Outcome
from hi_widgets.export.atomic import atomic_write

log = logging.getLogger(__name__)

FORMAT = "hi_widgets.checkpoint/2"
_UNPROTECTED_FORMATS = ("hi_widgets.checkpoint/1",)
_SIGNED = re.compile(rb'^(\{.*), "hmac": "([0-9a-f]{64})"\}$')
_SHOWN_LINES = 5


def fingerprint(inputs: Any) -> str:
    """Return a stable digest of a call's inputs (JSON, keys sorted, datetimes as ISO text)."""
    text = json.dumps(inputs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _encode(record: ImageSetRecord) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}


def _decode(record: dict[str, Any]) -> ImageSetRecord:
    for name in TIMESTAMP_FIELDS:
        if record.get(name) is not None:
            record[name] = datetime.fromisoformat(record[name])
    return cast(ImageSetRecord, record)  # written by _encode from a record


def _mac(key: bytes, body: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def signed_line(key: bytes, item: Item, records: list[ImageSetRecord]) -> bytes:
    """One record line: the image set's JSON with its ``hmac`` member, and a newline."""
    body = json.dumps({"item": list(item), "records": [_encode(r) for r in records]}, default=str)
    raw = body.encode()
    return raw[:-1] + b', "hmac": "' + _mac(key, raw).encode() + b'"}\n'


def verified_entry(key: bytes, line: bytes) -> tuple[Item, list[ImageSetRecord]] | None:
    """Return the (item, records) of a record line, or None if it does not verify."""
    match = _SIGNED.match(line)
    if match is None:
        return None
    body = match.group(1) + b"}"
    if not hmac.compare_digest(_mac(key, body), match.group(2).decode()):
        return None
    try:
        entry = json.loads(body)
        item = (str(entry["item"][0]), str(entry["item"][1]))
        return item, [_decode(record) for record in entry["records"]]
    except (ValueError, KeyError, TypeError, IndexError):
        return None


class Checkpoint:
    """An open checkpoint file: what it already holds, and durable appends.

    Parameters
    ----------
    path
        The file; created owner-only if missing.
    call
        The function writing it (``"fetch_versions"``, ``"fetch_datastore"``, ``"refresh"``).
    inputs
        What the call was asked for; a file written for other inputs is refused.

    Attributes
    ----------
    done
        The image sets the file already held when opened, with their records.
    warnings
        Sentences about lines skipped on open and a write that failed (module notes).

    Raises
    ------
    ValueError
        If the file is not a checkpoint (or one without integrity protection, written by
        an older hi_widgets), or was written by another call or for other inputs.
    OSError
        If a missing file cannot be created (the error's ``filename`` is ``path``).
    """

    def __init__(self, path: str | os.PathLike[str], call: str, inputs: Any) -> None:
        self.path = Path(path)
        header = {"format": FORMAT, "call": call, "inputs": fingerprint(inputs)}
        self.done: dict[Item, list[ImageSetRecord]] = {}
        self.warnings: list[str] = []
        self.failed: OSError | None = None
        if not self.path.exists():
            if not self.path.parent.is_dir():
                raise ValueError(f"checkpoint folder {self.path.parent} does not exist")
            self._key = secrets.token_bytes(32)
            self._create({**header, "key": self._key.hex()})
        else:
            self._key = self._load(header)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = self._synced = 0
        # Unbuffered: a line goes to the file in one write, not split at a buffer's size.
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()
        self._end = self._file.seek(0, os.SEEK_END)  # after the last complete line

    def _create(self, header: dict[str, Any]) -> None:
        """Write the header atomically (owner-only: the file will hold records)."""
        try:
            with atomic_write(self.path, private=True) as file:
                file.write((json.dumps(header) + "\n").encode())
        except OSError as error:  # name the checkpoint, not atomic_write's temporary file
            raise OSError(
                error.errno, f"cannot create checkpoint: {error.strerror}", str(self.path)
            ) from error

    def _load(self, header: dict[str, Any]) -> bytes:
        """Read what the file holds; return its key."""
        with open(self.path, "rb") as file:
            data = file.read()
        lines = data.split(b"\n")
        try:
            found = json.loads(lines[0])
        except ValueError:
            found = None
        known = (FORMAT, *_UNPROTECTED_FORMATS)
        if len(lines) < 2 or not isinstance(found, dict) or found.get("format") not in known:
            raise ValueError(f"{self.path} is not a hi_widgets checkpoint")
        if found.get("call") != header["call"] or found.get("inputs") != header["inputs"]:
            raise ValueError(
                f"checkpoint {self.path} was written by {found.get('call')} for other inputs "
                f"than this {header['call']} call; pass the same inputs to resume, or "
                "another path to start over"
            )
        try:
            key = bytes.fromhex(found["key"]) if found["format"] == FORMAT else b""
        except (KeyError, TypeError, ValueError):
            key = b""
        if len(key) != 32:
            raise ValueError(
                f"checkpoint {self.path} has no valid integrity key (written by an older "
                "hi_widgets, or its first line was edited); pass another path to start over"
            )
        bad = []
        for number, line in enumerate(lines[1:-1], start=2):
            entry = verified_entry(key, line)
            if entry is None:
                bad.append(number)
            else:
                self.done[entry[0]] = entry[1]
        if bad:
            shown = ", ".join(map(str, bad[:_SHOWN_LINES]))
            more = f" (and {len(bad) - _SHOWN_LINES} more)" if len(bad) > _SHOWN_LINES else ""
            self._warn(
                f"checkpoint {self.path}: line(s) {shown}{more} do not verify (damaged or "
                "edited) and were skipped; their image sets are fetched again"
            )
        if lines[-1]:  # the torn last line of a killed run: cut it before appending
            with open(self.path, "r+b") as file:
                file.truncate(len(data) - len(lines[-1]))
                file.flush()
                os.fsync(file.fileno())
        return key

    def _warn(self, message: str) -> None:
        log.warning("%s", message)
        self.warnings.append(message)

    def _fail(self, error: OSError) -> None:
        """Stop writing after a failed write or fsync (under ``_lock``)."""
        self.failed = error
        # Leave no torn line behind; should that fail, the next open drops it anyway.
        with contextlib.suppress(OSError):
            self._file.truncate(self._end)
        reason = error.strerror or str(error)
        self._warn(
            f"cannot write checkpoint {self.path}: [Errno {error.errno}] {reason}; it keeps "
            f"the {len(self.done) + self._written} image set(s) recorded before, nothing more "
            "is written to it, and this call keeps the rest of what it fetches in memory"
        )

    def record(self, item: Item, outcome: Outcome) -> None:
        """Append a completed image set durably (failures are not written).

        A write that fails stops the recording (module notes); it never raises.
        """
        if outcome.error is not None or outcome.records is None:
            return
        line = signed_line(self._key, item, outcome.records)
        with self._lock:
            if self.failed is not None:
                return
            try:
                data = memoryview(line)
                while data:
                    data = data[self._file.write(data) :]
            except OSError as error:
                self._fail(error)
                return
            self._end += len(line)
            self._written += 1
            mine = self._written
        # Group commit: one fsync covers every line written before it, so workers that
        # finish together wait for one disk flush, not one each.
        with self._sync_lock:
            if self._synced < mine:
                with self._lock:
                    if self.failed is not None:
                        return
                    covered = self._written
                try:
                    os.fsync(self._file.fileno())
                except OSError as error:
                    with self._lock:
                        if self.failed is None:
                            self._fail(error)
                    return
                self._synced = covered

    def record_done(self, items: list[Item]) -> None:
        """Append image sets made durable elsewhere (a dataset), without their records.

        One write and one fsync for all of them; a rerun reads them back with no records
        (``done[item] == []``). A write that fails stops the recording, as for
        :meth:`record`; it never raises.
        """
        lines = b"".join(signed_line(self._key, item, []) for item in items)
        if not lines:
            return
        with self._lock:
            if self.failed is not None:
                return
            try:
                data = memoryview(lines)
                while data:
                    data = data[self._file.write(data) :]
                os.fsync(self._file.fileno())
            except OSError as error:
                self._fail(error)
                return
            self._end += len(lines)
            self._written += len(items)
            self._synced = self._written

    def derived_key(self, purpose: str) -> bytes:
        """Return a secret for ``purpose``, the same whenever this checkpoint is reopened."""
        return hmac.new(self._key, purpose.encode(), hashlib.sha256).digest()

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
