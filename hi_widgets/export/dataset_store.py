"""Where a Parquet dataset lives: a local folder or an S3 prefix.

Both stores offer the same four methods: ``location`` (a relative path as the user sees
it), ``files`` (the visible Parquet files under a folder, lazily), ``open`` (for reading)
and ``write`` (one whole file, atomically). S3 goes through one boto3 client, so boto3's
standard configuration applies (profiles, ``AWS_ENDPOINT_URL_S3``, the ``s3`` section of
the config file, refreshing credentials) and each file is a single ``PutObject``.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hi_widgets.export.atomic import atomic_write
from hi_widgets.export.files import MEDIA_TYPES

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_HIDDEN = (".", "_")  # names Hive, Spark, Athena and pyarrow skip


class LocalStore:
    """A dataset root in a local folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def location(self, relative: str) -> str:
        """Return where ``relative`` (a path inside the dataset) is, as the user would write it."""
        return str(self.root.joinpath(*relative.split("/")))

    def files(self, folder: str = "") -> Iterator[tuple[str, int]]:
        """Yield (path relative to the root, size) of the visible Parquet files under folder."""
        top = self.root.joinpath(*folder.split("/")) if folder else self.root
        for parent, dirs, names in os.walk(top):
            dirs[:] = sorted(d for d in dirs if not d.startswith(_HIDDEN))
            for name in sorted(names):
                if name.endswith(".parquet") and not name.startswith(_HIDDEN):
                    path = Path(parent, name)
                    yield path.relative_to(self.root).as_posix(), path.stat().st_size

    def open(self, relative: str, size: int) -> Any:
        """Open a file of the dataset for reading (seekable)."""
        return open(self.location(relative), "rb")

    def write(self, relative: str, data: bytes) -> str:
        """Write a whole file atomically; return its location."""
        target = Path(self.location(relative))
        with atomic_write(target, private=True, make_folder=True) as fh:
            fh.write(data)
        return str(target)


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable S3 object: each read is one ranged GetObject.

    pyarrow reads a Parquet footer and then only the column chunks asked for, so reading
    the key columns of a large file transfers a small part of it.
    """

    def __init__(self, client: S3Client, bucket: str, key: str, size: int) -> None:
        super().__init__()
        self._client, self._bucket, self._key, self._size = client, bucket, key, size
        self._position = 0

    def readable(self) -> bool:
        """Return True: the object can be read."""
        return True

    def seekable(self) -> bool:
        """Return True: reads may start anywhere."""
        return True

    def tell(self) -> int:
        """Return the position of the next read."""
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position of the next read; return it."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        self._position = max(0, base + offset)
        return self._position

    def readinto(self, buffer: Any) -> int:
        """Read into ``buffer`` with one ranged GetObject; return the bytes read."""
        end = min(self._position + len(buffer), self._size)
        if end <= self._position:
            return 0
        response = self._client.get_object(
            Bucket=self._bucket, Key=self._key, Range=f"bytes={self._position}-{end - 1}"
        )
        data = response["Body"].read()
        buffer[: len(data)] = data
        self._position += len(data)
        return len(data)


class S3Store:
    """A dataset root under an S3 prefix, reached through one boto3 S3 client."""

    def __init__(self, client: S3Client, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix

    def location(self, relative: str) -> str:
        """Return where ``relative`` (a path inside the dataset) is, as the user would write it."""
        return f"s3://{self.bucket}/{self.prefix}{relative}"

    def files(self, folder: str = "") -> Iterator[tuple[str, int]]:
        """Yield ``(relative path, size)`` of every file under ``folder``."""
        start = self.prefix + (f"{folder}/" if folder else "")
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=start
        )
        for page in pages:
            for item in page.get("Contents", ()):
                relative = item["Key"][len(self.prefix) :]
                parts = relative.split("/")
                hidden = any(part.startswith(_HIDDEN) for part in parts)
                if relative.endswith(".parquet") and not hidden:
                    yield relative, int(item["Size"])

    def open(self, relative: str, size: int) -> Any:
        """Open a file of the dataset for reading (seekable)."""
        return S3RangeFile(self.client, self.bucket, self.prefix + relative, size)

    def write(self, relative: str, data: bytes) -> str:
        """Write a whole file atomically; return its location."""
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.prefix + relative,
            Body=data,
            ContentType=MEDIA_TYPES["parquet"],
        )
        return self.location(relative)


def parse_root(root: Any) -> tuple[str, str, str]:
    """Return ("local", path, "") or ("s3", bucket, prefix); no I/O."""
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(
            f"root must be a folder path or an s3://bucket/prefix/ URI, got {type(root).__name__}"
        )
    text = os.fspath(root)
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"root must be a folder path or an s3://bucket/prefix/ URI; got {text!r}")
    scheme = _SCHEME.match(text)
    if scheme is None:
        return "local", text, ""
    if scheme.group(1).lower() != "s3":
        raise ValueError(
            f"root: unsupported scheme {scheme.group(1)!r} in {text!r}; use a local folder "
            "or s3://bucket/prefix/"
        )
    bucket, _, prefix = text[scheme.end() :].partition("/")
    if not _BUCKET.match(bucket):
        raise ValueError(
            f"root: {text!r} does not name a valid S3 bucket (3-63 lower-case letters, "
            "digits, dots or hyphens) after s3://"
        )
    prefix = "/".join(part for part in prefix.split("/") if part)
    return "s3", bucket, f"{prefix}/" if prefix else ""
