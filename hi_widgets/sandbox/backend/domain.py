"""The sandbox's domain objects: datastores, image sets and their versions.

Plain data (moto's ``models``): no locking, no clock, no wire format. The backend
(:mod:`hi_widgets.sandbox.backend.operations`) owns them and applies the operations' rules.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


def make_id(*parts: object) -> str:
    """Return a deterministic 32-character lowercase hex identifier."""
    return hashlib.md5(":".join(map(str, parts)).encode(), usedforsecurity=False).hexdigest()


@dataclass
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


@dataclass
class ImageSet:
    """An image set and its version history (oldest first)."""

    datastore_id: str
    image_set_id: str
    arn: str
    versions: list[Version]
    last_accessed_at: datetime | None = None
    storage_tier: str | None = "FREQUENT_ACCESS"
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def created_at(self) -> datetime:
        """When the image set was created: the ``createdAt`` of every one of its versions.

        The AWS CLI reference examples show it: ``list-image-set-versions`` answers the
        same ``createdAt`` for versions 1 to 4 while ``updatedAt`` differs, and
        ``copy-image-set`` answers the source's creation time as its ``createdAt``.
        """
        return self.versions[0].created_at

    @property
    def latest(self) -> Version:
        """The newest version."""
        return self.versions[-1]

    def version(self, version_id: int) -> Version | None:
        """Return a version by number, or None."""
        if 1 <= version_id <= len(self.versions):
            candidate = self.versions[version_id - 1]
            if candidate.version_id == version_id:
                return candidate
        return next((v for v in self.versions if v.version_id == version_id), None)


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
