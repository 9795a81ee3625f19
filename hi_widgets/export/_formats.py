"""The file formats of :mod:`hi_widgets.export.files`: one writer and one reader per format.

Writers take a frame and a binary file object and write in chunks of rows, so memory
stays near the frame's own size; see :mod:`hi_widgets.export.files` for what each format holds.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from hi_widgets.api.tables import apply_schema

METADATA_KEY = b"hi_widgets"
_CHUNK_ROWS = 10_000  # ~5 MB of JSON text per chunk


def _chunks(df: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for start in range(0, len(df), _CHUNK_ROWS):
        yield df.iloc[start : start + _CHUNK_ROWS]


def _iso_utc(series: pd.Series) -> np.ndarray:
    """Timestamps as ISO-8601 UTC text with microseconds and ``Z``; missing -> None."""
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    values = series.to_numpy(dtype="datetime64[us]")
    text = np.char.add(np.datetime_as_string(values, unit="us"), "Z").astype(object)
    text[np.isnat(values)] = None
    return text


def _portable(df: pd.DataFrame) -> pd.DataFrame:
    """Timestamps to ISO-8601 UTC text and time differences to seconds, for CSV and JSON."""
    columns: dict[Any, Any] = {}
    for name in df.columns:
        column = df[name]
        if pd.api.types.is_datetime64_any_dtype(column.dtype):
            columns[name] = _iso_utc(column)
        elif pd.api.types.is_timedelta64_dtype(column.dtype):
            columns[name] = column.dt.total_seconds()
        else:
            columns[name] = column
    result: pd.DataFrame = pd.DataFrame(columns, index=df.index, columns=df.columns)
    return result


def _write_csv(df: pd.DataFrame, fh: IO[bytes]) -> None:
    header = _portable(df.iloc[:0]).to_csv(index=False, lineterminator="\n")
    fh.write(header.encode("utf-8"))
    for chunk in _chunks(df):
        text = _portable(chunk).to_csv(index=False, header=False, lineterminator="\n")
        fh.write(text.encode("utf-8"))


def _write_json(df: pd.DataFrame, fh: IO[bytes]) -> None:
    fh.write(b"[")
    for number, chunk in enumerate(_chunks(df)):
        text = _portable(chunk).to_json(orient="records", force_ascii=False, double_precision=15)
        if number:
            fh.write(b",")
        fh.write(memoryview(text.encode("utf-8"))[1:-1])  # the records, not the brackets
    fh.write(b"]")


def _write_parquet(df: pd.DataFrame, fh: IO[bytes]) -> None:
    # pyarrow.parquet loads only for Parquet: the widgets import this module at start-up.
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.Schema.from_pandas(df, preserve_index=False)
    categories = {
        str(name): [str(value) for value in df[name].cat.categories]
        for name in df.columns
        if isinstance(df[name].dtype, pd.CategoricalDtype)
        and all(isinstance(value, str) for value in df[name].cat.categories)
    }
    metadata = dict(schema.metadata or {})
    metadata[METADATA_KEY] = json.dumps({"categories": categories}).encode("utf-8")
    schema = schema.with_metadata(metadata)
    with pq.ParquetWriter(fh, schema) as writer:
        for chunk in _chunks(df) if len(df) else [df]:
            writer.write_table(pa.Table.from_pandas(chunk, schema=schema, preserve_index=False))


WRITERS: dict[str, Callable[[pd.DataFrame, IO[bytes]], None]] = {
    "csv": _write_csv,
    "parquet": _write_parquet,
    "json": _write_json,
}


def _restore_categories(frame: pd.DataFrame, metadata: dict[bytes, bytes] | None) -> None:
    if not metadata or METADATA_KEY not in metadata:
        return
    stored = json.loads(metadata[METADATA_KEY].decode("utf-8")).get("categories", {})
    if not isinstance(stored, dict):
        raise ValueError("its hi_widgets metadata holds no categories mapping")
    for name, categories in stored.items():
        if name in frame.columns and isinstance(frame[name].dtype, pd.CategoricalDtype):
            # Values the stored list lacks (a newer state, another writer) are kept.
            present = [c for c in frame[name].cat.categories if c not in set(categories)]
            frame[name] = frame[name].cat.set_categories([*categories, *present])


def _read_json(source: Path) -> pd.DataFrame:
    rows = json.loads(source.read_text(encoding="utf-8"))
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ValueError("expected a JSON array of objects (one per row), as export_frame writes")
    columns = list(dict.fromkeys(key for row in rows for key in row))
    return apply_schema(pd.DataFrame.from_records(rows, columns=columns))


def read_file(source: Path, name: str) -> pd.DataFrame:
    if name == "parquet":
        import pyarrow.parquet as pq

        frame = pd.read_parquet(source, engine="pyarrow")
        _restore_categories(frame, pq.read_schema(source).metadata)
        return frame
    if name == "csv":
        text = pd.read_csv(source, dtype=object, keep_default_na=False, na_values=[""])
        return apply_schema(text)
    return _read_json(source)
