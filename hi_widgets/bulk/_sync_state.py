"""The sync state file: a dataset's high-water marks, kept beside its Parquet files.

One small JSON file in the dataset root, ``_hi_widgets_sync.json`` (a name starting with
``_``: Hive, Spark, Athena, DuckDB's hive reads and pyarrow skip it), written whole with
:func:`hi_widgets.export.atomic.atomic_write` (owner-only), so a killed sync leaves the
previous state or the new one, never a mix. Per datastore it holds:

``highWaterMark``
    The newest ``updatedAt`` (the service's own time) a completed sync saw.
``frontier``
    ``{imageSetId: [version, updatedAt]}`` of the image sets whose ``updatedAt`` lies in
    the overlap window below the mark: the next search returns them again, and these
    let it skip the ones that did not change (an unchanged frontier costs no fetch).
``retry``
    Image sets to fetch on the next sync whatever the search says: one still settling
    (LOCKED, or a status ending in ``ING``) or one whose fetch failed.
``run``
    The search window of a sync that has not completed (``lower``, ``upper``, ``full``),
    so a rerun searches the same window and its checkpoint
    (``_hi_widgets_sync-<datastoreId>.checkpoint``) is reused.

and, for the whole dataset, how its rows were de-identified: ``includePhi``,
``keepDates`` and ``uidKeyId``, an scrypt digest identifying the ``uid_key`` (never the
key itself), so every later sync must de-identify the same way.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from hi_widgets.export.atomic import atomic_write

FORMAT = "hi_widgets.sync/1"
STATE_NAME = "_hi_widgets_sync.json"
_KEY_ID_LABEL = b"hi_widgets.sync uid_key id"


def checkpoint_path(root: Path, datastore_id: str) -> Path:
    """Return where the checkpoint of an unfinished sync of ``datastore_id`` lives."""
    return root / f"_hi_widgets_sync-{datastore_id}.checkpoint"


def uid_key_id(uid_key: bytes | str | None) -> str | None:
    """Return a digest that tells keys apart without revealing them.

    scrypt (memory-hard: about 16 MB and a tenth of a second or more per try), so that
    the digest in the file does not make guessing a weak key cheap.
    """
    if uid_key is None:
        return None
    key = uid_key.encode() if isinstance(uid_key, str) else bytes(uid_key)
    return hashlib.scrypt(key, salt=_KEY_ID_LABEL, n=2**14, r=8, p=1, dklen=16).hex()


def iso(moment: datetime) -> str:
    """Return ``moment`` as ISO text in UTC (microseconds kept)."""
    return moment.astimezone(timezone.utc).isoformat()


def parse_iso(text: str) -> datetime:
    """Read :func:`iso` text back (always tz-aware UTC)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


@dataclass
class DatastoreState:
    """What the dataset knows of one datastore (see the module notes)."""

    high_water_mark: datetime | None = None
    frontier: dict[str, tuple[int, str]] = field(default_factory=dict)
    retry: list[str] = field(default_factory=list)
    run: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "highWaterMark": None if self.high_water_mark is None else iso(self.high_water_mark),
            "frontier": {k: [v, t] for k, (v, t) in sorted(self.frontier.items())},
            "retry": sorted(self.retry),
            "run": self.run,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatastoreState:
        mark = data.get("highWaterMark")
        return cls(
            high_water_mark=None if mark is None else parse_iso(mark),
            frontier={k: (int(v), str(t)) for k, (v, t) in data.get("frontier", {}).items()},
            retry=[str(i) for i in data.get("retry", [])],
            run=data.get("run"),
        )


@dataclass
class SyncState:
    """The whole state file: de-identification settings and one entry per datastore."""

    include_phi: bool | None = None
    keep_dates: bool | None = None
    uid_key_id: str | None = None
    datastores: dict[str, DatastoreState] = field(default_factory=dict)

    def check_deidentification(
        self, include_phi: bool, keep_dates: bool, key_id: str | None, path: Path
    ) -> None:
        """Raise ValueError if the dataset was written with other de-identification."""
        if self.include_phi is None:
            return
        for name, stored, given in (
            ("include_phi", self.include_phi, include_phi),
            ("keep_dates", self.keep_dates, keep_dates),
        ):
            if stored != given:
                raise ValueError(
                    f"{name}: the dataset was synced with {name}={stored} ({path}); "
                    f"sync it with the same setting, or sync into a new folder"
                )
        if not include_phi and self.uid_key_id != key_id:
            stored_text = "no uid_key" if self.uid_key_id is None else "another uid_key"
            raise ValueError(
                f"uid_key: the dataset was de-identified with {stored_text} ({path}); "
                "pass the same key so its replacement UIDs stay joinable"
            )

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "includePhi": self.include_phi,
            "keepDates": self.keep_dates,
            "uidKeyId": self.uid_key_id,
            "datastores": {k: v.to_json() for k, v in sorted(self.datastores.items())},
        }


def load_state(root: Path) -> SyncState:
    """Read the state file of ``root`` (an empty state if there is none)."""
    path = root / STATE_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SyncState()
    try:
        data = json.loads(text)
        if data.get("format") != FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        return SyncState(
            include_phi=data.get("includePhi"),
            keep_dates=data.get("keepDates"),
            uid_key_id=data.get("uidKeyId"),
            datastores={
                k: DatastoreState.from_json(v) for k, v in data.get("datastores", {}).items()
            },
        )
    except (ValueError, TypeError, AttributeError, KeyError) as error:
        raise ValueError(
            f"root: the sync state file {path} is not readable ({error}); move it away to "
            "sync the dataset again from scratch (rows already stored are not duplicated)"
        ) from error


def save_state(root: Path, state: SyncState) -> None:
    """Write the state file of ``root`` atomically (owner-only)."""
    data = json.dumps(state.to_json(), indent=1, sort_keys=True).encode()
    with atomic_write(root / STATE_NAME, private=True, make_folder=True) as fh:
        fh.write(data)
