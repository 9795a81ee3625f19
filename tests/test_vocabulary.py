"""One vocabulary across the public API (issue 19): names that can fail here if they drift."""

from __future__ import annotations

import dataclasses
import datetime as dt
import inspect

import pytest

import hi_widgets
from hi_widgets.api.criteria import search_criteria
from hi_widgets.api.progress import Progress


def _public_callables():
    for name in hi_widgets.__all__:
        value = getattr(hi_widgets, name)
        if inspect.isclass(value):
            if not dataclasses.is_dataclass(value):  # a result's fields are attributes
                yield name, value.__init__
            for attr, member in vars(value).items():
                if inspect.isfunction(member) and not attr.startswith("_"):
                    yield f"{name}.{attr}", member
        elif callable(value):
            yield name, value


PUBLIC = list(_public_callables())
RETIRED = {"frame", "rates", "versions", "version_a", "version_b", "created_from", "created_to"}


@pytest.mark.parametrize(("name", "function"), PUBLIC, ids=[name for name, _ in PUBLIC])
def test_public_parameters_use_the_vocabulary(name, function):
    parameters = inspect.signature(function).parameters
    assert not RETIRED & set(parameters), f"{name} takes {RETIRED & set(parameters)}"
    for keyword in ("include_phi", "keep_dates", "uid_key"):
        if keyword in parameters:
            assert parameters[keyword].kind is inspect.Parameter.KEYWORD_ONLY, (name, keyword)


def test_every_long_operation_takes_progress_and_cancel():
    for name in (
        "iter_versions",
        "fetch_history",
        "fetch_versions",
        "fetch_datastore",
        "refresh",
        "fetch_changes",
        "preview_image_set",
        "fetch_import_jobs",
        "fetch_import_outcomes",
    ):
        parameters = inspect.signature(getattr(hi_widgets, name)).parameters
        assert {"progress", "cancel"} <= set(parameters), name


def test_the_searches_take_the_same_criteria_keywords():
    keywords = set(inspect.signature(search_criteria).parameters) - {"sort"}
    for function in (
        hi_widgets.search_image_sets,
        hi_widgets.fetch_image_sets,
        hi_widgets.fetch_datastore,
    ):
        assert keywords <= set(inspect.signature(function).parameters), function.__name__


def test_include_phi_is_refused_positionally():
    df = hi_widgets.versions_frame([])
    with pytest.raises(TypeError):
        hi_widgets.to_bytes(df, "csv", True)


def test_progress_is_one_frozen_shape():
    step = Progress(2, None, "versions")
    assert step.fraction is None and str(step) == "2 versions"
    assert Progress(0, 0, "frames").fraction == 1.0
    assert Progress(3, 4, "image sets", ("a" * 32, "b" * 32)).item == ("a" * 32, "b" * 32)
    with pytest.raises(AttributeError):
        step.done = 3


def test_search_criteria_dates_are_whole_utc_days_and_open_ends():
    criteria = search_criteria(updated_between=(dt.date(2024, 5, 1), None))
    (only,) = criteria["filters"]
    start, end = (value["updatedAt"] for value in only["values"])
    assert start == dt.datetime(2024, 5, 1, tzinfo=dt.timezone.utc)
    assert end > dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    assert search_criteria(created_between=(None, None)) == {}
    assert search_criteria(patient_id="  ") == {}


def test_search_criteria_refuse_mixed_and_malformed_shapes():
    with pytest.raises(ValueError, match="either search_criteria or the search keywords"):
        search_criteria(patient_id="P", search_criteria={"filters": []})
    with pytest.raises(TypeError, match="search_criteria must be a mapping"):
        search_criteria(search_criteria=[("a", 1)])
    with pytest.raises(TypeError, match=r"created_between must be a \(start, end\) tuple"):
        search_criteria(created_between=dt.date(2024, 1, 1))
    with pytest.raises(TypeError, match="created_between must hold dates"):
        search_criteria(created_between=("2024-01-01", None))
    with pytest.raises(ValueError, match="updated_between starts after it ends"):
        search_criteria(updated_between=(dt.date(2024, 1, 2), dt.date(2024, 1, 1)))
    with pytest.raises(ValueError, match="at most 2 criteria"):
        search_criteria(patient_id="p", study_id="s", created_between=(None, dt.date.today()))
