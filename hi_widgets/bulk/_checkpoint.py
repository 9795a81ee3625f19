"""Checkpoints: each completed image set appended durably, so a rerun fetches only the rest.

The file is JSON Lines. The first line names the call and a fingerprint of its inputs;
every further line is one completed image set: ``{"item": [datastoreId, imageSetId],
"records": [...]}``, written, flushed and fsynced before the image set counts as done.
A process killed mid-write leaves at most one torn last line; it is dropped (and cut off
the file) on the next open. Failed image sets are not written, so a rerun retries them.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from hi_widgets.api.records import TIMESTAMP_FIELDS
from hi_widgets.bulk._pool import Item, Outcome
from hi_widgets.export.atomic import atomic_write

FORMAT = "hi_widgets.checkpoint/1"


def fingerprint(inputs: Any) -> str:
    """Return a stable digest of a call's inputs (JSON, keys sorted, datetimes as ISO text)."""
    text = json.dumps(inputs, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _encode(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in record.items()}


def _decode(record: dict[str, Any]) -> dict[str, Any]:
    for field in TIMESTAMP_FIELDS:
        if record.get(field) is not None:
            record[field] = datetime.fromisoformat(record[field])
    return record


def _write_new(path: Path, header: dict[str, Any]) -> None:
    """Create the checkpoint with its header atomically (owner-only: it holds records)."""
    with atomic_write(path, private=True) as file:
        file.write((json.dumps(header) + "\n").encode())


class Checkpoint:
    """An open checkpoint file: what it already holds, and durable appends.

    Parameters
    ----------
    path
        The file; created (with its folder's permissions) if missing.
    call
        The function writing it (``"fetch_versions"``, ``"fetch_datastore"``, ``"refresh"``).
    inputs
        What the call was asked for; a file written for other inputs is refused.

    Raises
    ------
    ValueError
        If the file is not a checkpoint, or was written by another call or for other
        inputs (it names both).
    """

    def __init__(self, path: str | os.PathLike[str], call: str, inputs: Any) -> None:
        self.path = Path(path)
        header = {"format": FORMAT, "call": call, "inputs": fingerprint(inputs)}
        self.done: dict[Item, list[dict[str, Any]]] = {}
        if not self.path.exists():
            if not self.path.parent.is_dir():
                raise ValueError(f"checkpoint folder {self.path.parent} does not exist")
            _write_new(self.path, header)
        else:
            self._load(header)
        self._lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = self._synced = 0
        # Unbuffered: a line goes to the file in one write, not split at a buffer's size.
        self._file = open(self.path, "ab", buffering=0)  # noqa: SIM115 - closed in close()

    def _load(self, header: dict[str, Any]) -> None:
        with open(self.path, "rb") as file:
            data = file.read()
        lines = data.split(b"\n")
        try:
            found = json.loads(lines[0])
        except ValueError:
            found = None
        if not isinstance(found, dict) or found.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a hi_widgets checkpoint")
        if found.get("call") != header["call"] or found.get("inputs") != header["inputs"]:
            raise ValueError(
                f"checkpoint {self.path} was written by {found.get('call')} for other inputs "
                f"than this {header['call']} call; pass the same inputs to resume, or "
                "another path to start over"
            )
        good = len(lines[0]) + 1
        for line in lines[1:]:
            try:
                entry = json.loads(line)
                item = (entry["item"][0], entry["item"][1])
                records = [_decode(record) for record in entry["records"]]
            except (ValueError, KeyError, TypeError, IndexError):
                break  # the torn last line of a killed run (or the empty end)
            self.done[item] = records
            good += len(line) + 1
        if good < len(data):
            with open(self.path, "r+b") as file:  # cut the torn line before appending
                file.truncate(good)
                file.flush()
                os.fsync(file.fileno())

    def record(self, item: Item, outcome: Outcome) -> None:
        """Append a completed image set durably (failures are not written)."""
        if outcome.error is not None or outcome.records is None:
            return
        line = json.dumps(
            {"item": list(item), "records": [_encode(r) for r in outcome.records]}, default=str
        )
        with self._lock:
            data = memoryview((line + "\n").encode())
            while data:
                data = data[self._file.write(data) :]
            self._written += 1
            mine = self._written
        # Group commit: one fsync covers every line written before it, so workers that
        # finish together wait for one disk flush, not one each.
        with self._sync_lock:
            if self._synced < mine:
                with self._lock:
                    covered = self._written
                os.fsync(self._file.fileno())
                self._synced = covered
        with self._lock:
            self.done[item] = outcome.records

    def outcomes(self, items: list[Item]) -> dict[Item, Outcome]:
        """Outcomes of the ``items`` already in the checkpoint."""
        return {item: Outcome(records=self.done[item]) for item in items if item in self.done}

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
