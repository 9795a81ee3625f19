"""The backend's series/study index answers as a scan of every image set would.

The index made building N demo image sets linear in N (a scan per import and per study
update made it quadratic: 10,000 image sets took 222 s). It is a superset checked at
lookup, so it is right as long as every new version is indexed; this compares it with
the scan after the demo's imports, updates, copies, deletes and study updates.
"""

from __future__ import annotations

from hi_widgets.sandbox.backend import metadata as md
from hi_widgets.sandbox.backend.operations import Backend
from hi_widgets.sandbox.demo.data import populate
from hi_widgets.sandbox.runtime.clock import ManualClock


def _scan_primary(store, datastore, series_uid):
    for image_set in datastore.image_sets.values():
        latest = image_set.latest
        if (
            latest.is_primary
            and latest.state != "DELETED"
            and series_uid in md.series_uids(latest.document)
        ):
            return image_set
    return None


def test_lookups_by_index_equal_a_full_scan_after_the_demo():
    store = Backend(ManualClock())
    populate(store, seed=3, image_sets=60)
    store.settle()
    checked = 0
    for datastore_id in store.datastore_ids():
        datastore = store.datastore(datastore_id)
        series = {
            s
            for i in datastore.image_sets.values()
            for v in i.versions
            for s in md.series_uids(v.document)
        }
        studies = {
            md.study_uid(v.document) for i in datastore.image_sets.values() for v in i.versions
        }
        for series_uid in series:
            assert store.primary_holder(datastore, series_uid) is _scan_primary(
                store, datastore, series_uid
            )
            checked += 1
        for study in studies:
            scanned = [
                i
                for i in datastore.image_sets.values()
                if md.study_uid(i.latest.document) == study
            ]
            assert sorted(map(id, store.study_members(datastore, study))) == sorted(
                map(id, scanned)
            )
    assert checked > 40  # every series of both demo datastores
