"""The sandbox's domain objects: datastores, image sets and their versions.

Plain data (moto's ``models``): no locking, no clock, no wire format. The backend
(:mod:`hi_widgets.sandbox.backend.operations`) owns them and applies the operations' rules.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


def make_id(*parts: object) -> str:
    """Return a deterministic 32-character lowercase hex identifier."""
    return hashlib.md5(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


@dataclass(slots=True)
class Version:
    """One version of an image set.

    ``created_at`` is when this version was written (the operation's start); it is not
    served: AWS answers every version's ``createdAt`` with the image set's creation time
    (:attr:`ImageSet.created_at`), and ``updatedAt`` with when the version last changed.
    """

    version_id: int
    state: str
    workflow_status: str
    created_at: datetime
    updated_at: datetime
    document: dict[str, Any]
    deleted_at: datetime | None = None
    message: str | None = None
    forced: bool | None = None
    is_primary: bool | None = True


class ImageSet:
    """An image set and its version history (oldest first).

    An image set may be *deferred* (:meth:`deferred`): the demo's large datastores know
    each image set's latest version as a search sees it (:attr:`head`, with a metadata
    document that holds only the attributes SearchImageSets reads) and write the whole
    history, as the eager build would, the first time :attr:`versions` (or
    :attr:`latest`, or :meth:`version`) is read. Searches, lookups by series and study,
    and counts read :attr:`head`, :attr:`created_at` and :attr:`version_count`, which
    never write the history.
    """

    __slots__ = (
        "_created_at",
        "_head",
        "_materialize",
        "_versions",
        "arn",
        "datastore_id",
        "image_set_id",
        "last_accessed_at",
        "storage_tier",
        "tags",
    )

    def __init__(
        self,
        datastore_id: str,
        image_set_id: str,
        arn: str,
        versions: list[Version],
        last_accessed_at: datetime | None = None,
        storage_tier: str | None = "FREQUENT_ACCESS",
        tags: dict[str, str] | None = None,
    ) -> None:
        self.datastore_id = datastore_id
        self.image_set_id = image_set_id
        self.arn = arn
        self.last_accessed_at = last_accessed_at
        self.storage_tier = storage_tier
        self.tags: dict[str, str] = {} if tags is None else tags
        self._versions: list[Version] | None = versions
        self._head: Version | None = None
        self._created_at: datetime | None = None
        self._materialize: Callable[[], None] | None = None

    @classmethod
    def deferred(
        cls,
        datastore_id: str,
        image_set_id: str,
        arn: str,
        *,
        head: Version,
        created_at: datetime,
        materialize: Callable[[], None],
    ) -> ImageSet:
        """Return an image set whose history ``materialize()`` writes (see :meth:`fill`)."""
        image_set = cls(datastore_id, image_set_id, arn, [])
        image_set._versions = None
        image_set._head, image_set._created_at = head, created_at
        image_set._materialize = materialize
        return image_set

    def fill(self, versions: list[Version]) -> None:
        """Give a deferred image set its history (called by its ``materialize``)."""
        self._versions = versions
        self._head = self._created_at = self._materialize = None

    @property
    def is_deferred(self) -> bool:
        """Whether the history has not been written yet."""
        return self._versions is None

    @property
    def versions(self) -> list[Version]:
        """Every version, oldest first (writes a deferred history first)."""
        if self._versions is None:
            assert self._materialize is not None
            self._materialize()
            assert self._versions is not None, "materialize() must fill the image set"
        return self._versions

    @property
    def head(self) -> Version:
        """The latest version as a search reads it (never writes a deferred history)."""
        if self._versions is None:
            assert self._head is not None
            return self._head
        return self._versions[-1]

    @property
    def version_count(self) -> int:
        """The number of versions (version ids run from 1 to it)."""
        return self.head.version_id if self._versions is None else len(self._versions)

    @property
    def created_at(self) -> datetime:
        """When the image set was created: the ``createdAt`` of every one of its versions.

        The AWS CLI reference examples show it: ``list-image-set-versions`` answers the
        same ``createdAt`` for versions 1 to 4 while ``updatedAt`` differs, and
        ``copy-image-set`` answers the source's creation time as its ``createdAt``.
        """
        if self._versions is None:
            assert self._created_at is not None
            return self._created_at
        return self._versions[0].created_at

    @property
    def latest(self) -> Version:
        """The newest version."""
        return self.versions[-1]

    def version(self, version_id: int) -> Version | None:
        """Return a version by number, or None."""
        versions = self.versions
        if 1 <= version_id <= len(versions):
            candidate = versions[version_id - 1]
            if candidate.version_id == version_id:
                return candidate
        return next((v for v in versions if v.version_id == version_id), None)

    def __repr__(self) -> str:
        state = "deferred" if self.is_deferred else f"{len(self.versions)} versions"
        return f"ImageSet({self.datastore_id!r}, {self.image_set_id!r}, {state})"


@dataclass
class Datastore:
    """A datastore and its image sets (in creation order)."""

    datastore_id: str
    name: str
    status: str
    arn: str
    created_at: datetime
    updated_at: datetime
    lossless_storage_format: str | None = "HTJ2K"
    kms_key_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    image_sets: dict[str, ImageSet] = field(default_factory=dict)
    client_token: str | None = None
