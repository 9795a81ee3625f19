"""The pieces of a hive-partitioned Parquet dataset (:mod:`hi_widgets.export.dataset`).

Columns and keys checked, frames as Arrow tables of plain types, partition folders and
their escaping, the stored schema and the keys stored in a file, and new file names.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import unquote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

HIVE_NULL = "__HIVE_DEFAULT_PARTITION__"
"""Folder value Hive, Spark and Athena use for a missing partition value."""

READERS = 8
"""Files read at once when looking for stored keys (S3 waits, not the CPU, bound them)."""

NOT_STORED: tuple[str, ...] = ("isLatest", "sincePrevious")
"""Columns left out of datasets: derived from a whole history, they go stale on append."""


# ------------------------------------------------------------------------------ schema


def check_columns(
    frame: pd.DataFrame, partition_cols: Any, key: Any, dropped: set[str]
) -> tuple[list[str], list[str] | None]:
    if not frame.columns.is_unique or not all(isinstance(c, str) for c in frame.columns):
        raise ValueError("frame must have unique string column names to become a dataset")
    partitions = [partition_cols] if isinstance(partition_cols, str) else list(partition_cols)
    keys = None if key is None else ([key] if isinstance(key, str) else list(key))
    for argument, names in (("partition_cols", partitions), ("key", keys or [])):
        if len(set(names)) != len(names):
            raise ValueError(f"{argument} names a column twice: {names!r}")
        for name in names:
            if name in dropped:
                raise ValueError(
                    f"{argument}: {name!r} is a PHI column or one of unknown meaning, "
                    "left out by de-identification unless include_phi=True"
                )
            if name not in frame.columns:
                raise ValueError(
                    f"{argument}: unknown column {name!r}; the frame has "
                    f"{', '.join(map(str, frame.columns))}"
                )
    for name in partitions:
        dtype = frame[name].dtype
        if not (
            isinstance(dtype, pd.CategoricalDtype)
            or pd.api.types.is_string_dtype(dtype)
            or pd.api.types.is_integer_dtype(dtype)
            or pd.api.types.is_bool_dtype(dtype)
        ):
            raise ValueError(
                f"partition_cols: column {name!r} has dtype {dtype}; partition by text, "
                "integer or boolean columns"
            )
    if len(partitions) == len(frame.columns):
        raise ValueError("partition_cols: at least one column must stay in the files")
    return partitions, keys


def _objects(series: pd.Series) -> np.ndarray:
    """Return the values as Python objects, every missing value None."""
    # pandas documents na_value=None (missing values become None); the stubs omit it.
    values: np.ndarray = series.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def _arrow_column(series: pd.Series) -> Any:
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):  # plain strings: no dictionary to declare
        return pa.array([None if v is None else str(v) for v in _objects(series)], pa.string())
    if isinstance(dtype, pd.DatetimeTZDtype):
        array = pa.array(series.dt.tz_convert("UTC"))
        return array.cast(pa.timestamp("us", tz="UTC"), safe=False)
    if pd.api.types.is_datetime64_dtype(dtype):
        return pa.array(series).cast(pa.timestamp("us"), safe=False)
    if pd.api.types.is_timedelta64_dtype(dtype):
        return pa.array(series.dt.total_seconds(), type=pa.float64())
    if pd.api.types.is_bool_dtype(dtype):
        return pa.array(_objects(series), type=pa.bool_())
    if pd.api.types.is_integer_dtype(dtype):
        return pa.array(_objects(series), type=pa.int64())
    if pd.api.types.is_float_dtype(dtype):
        # from_pandas: a missing value (NaN) becomes a Parquet null, which engines count
        return pa.array(series.to_numpy(dtype="float64", na_value=np.nan), from_pandas=True)
    values = _objects(series)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        return pa.array(values, type=pa.string())
    return pa.array(values)


def arrow_table(frame: pd.DataFrame) -> Any:
    columns = [_arrow_column(frame[name]) for name in frame.columns]
    return pa.Table.from_arrays(columns, names=list(frame.columns))


def parquet_bytes(table: Any) -> bytes:
    buffer = io.BytesIO()
    # Snappy and version-1 data pages: what every engine, old Hive readers included, reads.
    pq.write_table(table, buffer, compression="snappy", data_page_version="1.0")
    return buffer.getvalue()


def schema_mismatch(new: Any, old: Any) -> str | None:
    old_types = {field.name: field.type for field in old}
    new_types = {field.name: field.type for field in new}
    problems = []
    if missing := [n for n in old_types if n not in new_types]:
        problems.append(f"missing columns {missing}")
    if extra := [n for n in new_types if n not in old_types]:
        problems.append(f"new columns {extra}")
    changed = [
        f"{n} ({old_types[n]} -> {t})"
        for n, t in new_types.items()
        if n in old_types and t != old_types[n]
    ]
    if changed:
        problems.append(f"other types: {', '.join(changed)}")
    return "; ".join(problems) or None


# --------------------------------------------------------------------------- partitions


# The characters Hive and Spark escape in partition folder names (escapePathName).
_ESCAPED = frozenset("\"#%'*/:=?\\{[]^\x7f") | frozenset(map(chr, range(1, 32)))


def _partition_text(value: Any) -> str:
    if value is None or value is pd.NA or (isinstance(value, float) and value != value):
        return HIVE_NULL
    if isinstance(value, bool):
        return "true" if value else "false"
    return "".join(f"%{ord(c):02X}" if c in _ESCAPED else c for c in str(value))


def _partition_value(text: str, dtype: Any) -> Any:
    """Turn a partition folder's text back into the frame's value."""
    if text == HIVE_NULL:
        return None
    value = unquote(text)
    if pd.api.types.is_bool_dtype(dtype):
        return value == "true"
    if pd.api.types.is_integer_dtype(dtype):
        return int(value)
    return value


def _folder_values(relative: str) -> dict[str, str]:
    """``a=1/b=x/part.parquet`` -> {"a": "1", "b": "x"}."""
    return dict(part.split("=", 1) for part in relative.split("/")[:-1] if "=" in part)


def _key_value(value: Any) -> Any:
    """Return a plain Python value: numpy scalars unwrapped, every missing value None."""
    if isinstance(value, np.generic):
        value = value.item()
    return None if value is None or value is pd.NA or value is pd.NaT else value


def _column_values(series: pd.Series) -> list[Any]:
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        series = series.dt.tz_convert("UTC")
    return [_key_value(v) for v in _objects(series)]


def partition_folders(frame: pd.DataFrame, partitions: list[str]) -> pd.Series:
    """Return the partition folder of every row (``a=1/b=x``; empty without partitions)."""
    if not partitions:
        return pd.Series("", index=frame.index, dtype=object)
    parts = []
    for name in partitions:
        values = _column_values(frame[name])
        text = {value: f"{name}={_partition_text(value)}" for value in set(values)}
        parts.append([text[value] for value in values])
    return pd.Series(["/".join(row) for row in zip(*parts, strict=True)], index=frame.index)


def stored_schema(
    store: Any, first: tuple[str, int], table: Any, partitions: list[str], root_text: str
) -> Any:
    """Return the schema of a dataset's ``first`` file, checked against the rows to add.

    Raises
    ------
    ValueError
        If the dataset is partitioned by other columns, or ``table`` does not match it.
    """
    existing_partitions = list(_folder_values(first[0]))
    if existing_partitions != partitions:
        raise ValueError(
            f"partition_cols: the dataset at {root_text} is partitioned by "
            f"{existing_partitions}, not {partitions}"
        )
    with store.open(*first) as fh:
        schema = pq.read_schema(fh)
    if problem := schema_mismatch(table.schema, schema):
        raise ValueError(f"the data does not match the dataset at {root_text}: {problem}")
    return schema


def file_keys(
    store: Any, file: tuple[str, int], partitions: list[str], keys: list[str], dtypes: Any
) -> list[tuple[Any, ...]]:
    """Read the keys stored in one file: its key columns, and its folder's values."""
    relative, size = file
    stored = [name for name in keys if name not in partitions]
    with store.open(relative, size) as fh:
        table = pq.read_table(fh, columns=stored)
    folder = _folder_values(relative)
    columns = [
        table.column(name).to_pylist()
        if name in stored
        else [_partition_value(folder.get(name, HIVE_NULL), dtypes[name])] * table.num_rows
        for name in keys
    ]
    return list(zip(*columns, strict=True))


def frame_keys(frame: pd.DataFrame, keys: list[str]) -> list[tuple[Any, ...]]:
    return list(zip(*(_column_values(frame[name]) for name in keys), strict=True))


def new_file_name() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return f"part-{stamp}-{uuid.uuid4().hex[:16]}.parquet"
