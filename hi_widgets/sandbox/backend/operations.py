"""The sandbox backend: the state and one typed method per HealthImaging operation.

Laid out like a moto backend. The operations are grouped by concern, each group a class
over the shared :class:`~hi_widgets.sandbox.backend.state.BackendState`:

* :mod:`~hi_widgets.sandbox.backend.datastores`: datastores and tags;
* :mod:`~hi_widgets.sandbox.backend.reads`: GetImageSet, ListImageSetVersions,
  GetImageSetMetadata, SearchImageSets;
* :mod:`~hi_widgets.sandbox.backend.writes`: UpdateImageSetMetadata, CopyImageSet, DeleteImageSet;
* :mod:`~hi_widgets.sandbox.backend.ingest`: image sets created by an import (no operation of its
  own: the demo data calls ``add_imported_image_set``);
* :mod:`~hi_widgets.sandbox.dicom.operations`: DICOM import jobs and GetImageFrame.

Each operation is the method named as botocore names the operation in Python
(``xform_name``: ``GetImageSet`` -> ``get_image_set``); it takes the operation's input
members as snake_case keyword-only arguments (``datastoreId`` -> ``datastore_id``, nested
structures as the dicts the wire layer parsed) and returns the output dict (the wire layer
drops keys the output shape does not have); errors are raised as
:class:`~hi_widgets.sandbox.backend.errors.ServiceError`.

The server dispatches generically (:mod:`hi_widgets.sandbox.server.registry`): it looks up
only the service model's operation names, so helpers such as :meth:`~BackendState.versions`
or :meth:`~BackendState.settle` (for tests and demo data) are never reachable over HTTP.

Adding operations from another module (DICOM import jobs, image frames)
----------------------------------------------------------------------
1. Keep the operation's state and rules in that module (e.g.
   :mod:`~hi_widgets.sandbox.dicom.operations` holds the import jobs), as a class over
   :class:`~hi_widgets.sandbox.backend.state.BackendState`. It uses the public building
   blocks: ``lock`` (hold it while touching datastores), ``settle()``, ``now()``,
   ``schedule(delay, action)``, ``new_id(kind)``, ``datastore(id)``,
   ``image_set(ds, id)``, ``image_set_arn(ds, id)``,
   ``add_imported_image_set(ds, document, outcome=...)`` (one series per image set,
   primary unless the series already has a primary image set) and the
   :mod:`~hi_widgets.sandbox.backend.domain` dataclasses.
2. Name each operation's method by ``xform_name`` with exactly the operation's input
   members as keyword-only arguments (optional members with defaults). A member the
   method does not take is answered with a ValidationException naming it.
3. Add the class to :class:`Backend`'s bases. The registry refuses an operation defined
   by two of them and a method whose arguments are not the operation's members, and
   ``tests/test_sandbox_layout.py`` checks that the registry covers exactly the installed
   botocore model.
"""

from __future__ import annotations

from hi_widgets.sandbox.backend.datastores import DatastoreOperations
from hi_widgets.sandbox.backend.ingest import ImageSetIngest
from hi_widgets.sandbox.backend.reads import ImageSetReads
from hi_widgets.sandbox.backend.writes import ImageSetWrites
from hi_widgets.sandbox.dicom.operations import DicomImportOperations


class Backend(
    DatastoreOperations, ImageSetReads, ImageSetWrites, ImageSetIngest, DicomImportOperations
):
    """The in-memory HealthImaging of one sandbox.

    Parameters
    ----------
    clock
        Source of the current time.
    region, account_id
        Used in ARNs.
    update_delay
        Seconds (per ``clock``) that UPDATING, COPYING, DELETING and CREATING last.
    id_seed
        Seed of the identifiers of new datastores and image sets.
    """
