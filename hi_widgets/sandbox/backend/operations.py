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

Each method takes the operation's input members as snake_case keyword arguments and
returns the output dict (the wire layer drops keys the output shape does not have);
errors are raised as :class:`~hi_widgets.sandbox.backend.errors.ServiceError`.

Which operations the server answers is NOT "every public method here": it is the explicit
registry of :mod:`hi_widgets.sandbox.server.registry`, built from the wire-facing ``Responses``
classes (:mod:`hi_widgets.sandbox.server.responses`), whose public methods are exactly the
operations. Helpers such as :meth:`~BackendState.versions` or
:meth:`~BackendState.settle` are for tests and demo data and are never reachable over HTTP.

Adding operations from another module (DICOM import jobs, image frames)
----------------------------------------------------------------------
1. Keep the operation's state and rules in that module (e.g. ``imports.py`` holds the
   import jobs). It receives this :class:`Backend` and uses its public building blocks:
   ``lock`` (hold it while touching datastores), ``settle()``, ``now()``,
   ``schedule(delay, action)``, ``new_id(kind)``, ``datastore(id)``, ``image_set(ds, id)``,
   ``image_set_arn(ds, id)``, ``add_imported_image_set(ds, document, outcome=...)`` (one
   series per image set, primary unless the series already has a primary image set) and
   the :mod:`~hi_widgets.sandbox.backend.domain` dataclasses.
2. Write a ``Responses`` subclass (:class:`hi_widgets.sandbox.server.responses.Responses`)
   whose public methods are exactly the new operations, named by
   ``botocore.xform_name`` (``StartDICOMImportJob`` -> ``start_dicom_import_job``), each
   taking the validated params dict and returning the output dict. Its ``__init__``
   receives the backend.
3. Add the class to :data:`hi_widgets.sandbox.server.registry.PROVIDERS` (as
   :mod:`~hi_widgets.sandbox.server.dicom_responses` is). The registry refuses an operation
   provided twice and a public method that is not an operation, and
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
