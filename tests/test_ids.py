import pytest
from botocore.stub import Stubber

import hi_widgets
from hi_widgets import InvalidIdentifierError
from hi_widgets.api.ids import (
    validate_datastore_id,
    validate_image_set_id,
    validate_optional_version_id,
    validate_version_id,
)

GOOD_ID = "0123456789abcdef0123456789abcdef"

BAD_IDS = [
    ("empty", ""),
    ("blank", "   "),
    ("31 chars", GOOD_ID[:31]),
    ("33 chars", GOOD_ID + "0"),
    ("upper case", GOOD_ID.upper()),
    ("one upper-case letter", "A" + GOOD_ID[1:]),
    ("cyrillic a look-alike", "\u0430" + GOOD_ID[1:]),
    ("fullwidth digit", "\uff10" + GOOD_ID[1:]),
    ("arabic-indic digit", "\u0660" + GOOD_ID[1:]),
    ("path traversal", "../" + GOOD_ID[3:]),
    ("slash", GOOD_ID[:16] + "/" + GOOD_ID[17:]),
    ("space inside", GOOD_ID[:16] + " " + GOOD_ID[17:]),
    ("tab inside", GOOD_ID[:16] + "\t" + GOOD_ID[17:]),
    ("newline inside", GOOD_ID[:16] + "\n" + GOOD_ID[17:]),
    ("hyphenated uuid", "01234567-89ab-cdef-0123-456789abcdef"),
    ("query injection", GOOD_ID[:28] + "?v=1"),
    ("percent-encoded", GOOD_ID[:29] + "%2f"),
    ("null byte", GOOD_ID[:31] + "\x00"),
    ("zero-width space", GOOD_ID[:16] + "\u200b" + GOOD_ID[16:31]),
    ("10,000 characters", "a" * 10_000),
    ("None", None),
    ("int", 1234),
    ("bytes", GOOD_ID.encode()),
    ("list", [GOOD_ID]),
    ("bool", True),
]

BAD_VERSIONS = [
    ("zero", "0"),
    ("zeros", "000"),
    ("negative", "-1"),
    ("negative int", -1),
    ("int zero", 0),
    ("fraction", "1.5"),
    ("float", 1.5),
    ("exponent", "1e3"),
    ("hex", "0x10"),
    ("letters", "v2"),
    ("space inside", "1 2"),
    ("plus sign", "+3"),
    ("underscore", "1_000"),
    ("arabic-indic digit", "\u0663"),
    ("fullwidth digit", "\uff13"),
    ("10,000 digits", "9" * 10_000),
    ("11 digits", "1" * 11),
    ("bool", True),
    ("bytes", b"3"),
]


@pytest.mark.parametrize(("kind", "value"), BAD_IDS, ids=[k for k, _ in BAD_IDS])
@pytest.mark.parametrize("validate", [validate_datastore_id, validate_image_set_id])
def test_bad_identifiers_are_rejected(validate, kind, value):
    with pytest.raises(InvalidIdentifierError) as info:
        validate(value)
    error = info.value
    assert error.field in ("datastoreId", "imageSetId")
    assert error.field in str(error)
    assert "32 characters" in str(error)
    assert len(str(error)) < 300, "a 10,000-character value must be shortened"


@pytest.mark.parametrize(("kind", "value"), BAD_VERSIONS, ids=[k for k, _ in BAD_VERSIONS])
def test_bad_versions_are_rejected(kind, value):
    with pytest.raises(InvalidIdentifierError) as info:
        validate_version_id(value)
    assert info.value.field == "versionId"
    assert "version" in str(info.value)
    assert len(str(info.value)) < 300


def test_invalid_identifier_is_a_value_error_and_a_healthimaging_error():
    with pytest.raises(ValueError):
        validate_image_set_id("nope")
    with pytest.raises(hi_widgets.HealthImagingError):
        validate_image_set_id("nope")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(GOOD_ID, GOOD_ID), (f"  {GOOD_ID}\n", GOOD_ID), (f"\t{GOOD_ID} ", GOOD_ID)],
)
def test_surrounding_whitespace_is_stripped(value, expected):
    assert validate_datastore_id(value) == expected
    assert validate_image_set_id(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", "1"), (" 42 ", "42"), (7, "7"), ("007", "7"), ("9" * 10, "9" * 10)],
)
def test_good_versions(value, expected):
    assert validate_version_id(value) == expected


@pytest.mark.parametrize("value", [None, "", "  "])
def test_blank_optional_version_means_latest(value):
    assert validate_optional_version_id(value) is None


def test_upper_case_hint_names_the_problem():
    with pytest.raises(InvalidIdentifierError, match="upper-case"):
        validate_image_set_id(GOOD_ID.upper())
    with pytest.raises(InvalidIdentifierError, match="got 31 characters"):
        validate_image_set_id(GOOD_ID[:31])


@pytest.fixture(scope="module")
def offline_client():
    """One client for the module (a client takes a tenth of a second to make)."""
    return hi_widgets.make_client(region="us-east-1", endpoint_url="http://127.0.0.1:9")


@pytest.fixture
def counted_client(offline_client):
    calls = []

    def count(**kwargs):
        calls.append(kwargs)

    offline_client.meta.events.register("before-call.medical-imaging", count)
    try:
        with Stubber(offline_client) as stub:
            yield offline_client, calls
            stub.assert_no_pending_responses()
    finally:
        offline_client.meta.events.unregister("before-call.medical-imaging", count)


@pytest.mark.parametrize(("kind", "value"), BAD_IDS, ids=[k for k, _ in BAD_IDS])
def test_no_request_is_sent_for_a_bad_image_set_id(counted_client, kind, value):
    client, calls = counted_client
    with pytest.raises(InvalidIdentifierError):
        hi_widgets.get_image_set(client, GOOD_ID, value)
    with pytest.raises(InvalidIdentifierError):
        list(hi_widgets.iter_versions(client, value, GOOD_ID))
    with pytest.raises(InvalidIdentifierError):
        hi_widgets.get_image_set_metadata(client, value, GOOD_ID)
    assert calls == []


@pytest.mark.parametrize(("kind", "value"), BAD_VERSIONS, ids=[k for k, _ in BAD_VERSIONS])
def test_no_request_is_sent_for_a_bad_version(counted_client, kind, value):
    client, calls = counted_client
    with pytest.raises(InvalidIdentifierError):
        hi_widgets.get_image_set(client, GOOD_ID, GOOD_ID, value)
    assert calls == []
