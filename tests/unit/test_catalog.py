"""The catalog file matches the seed's tables, and a broken catalog fails loudly."""

from __future__ import annotations

import copy
import tomllib
from importlib import resources
from typing import Any

import pytest

from export_core.catalog import FIELD_KINDS, get_catalog, parse_catalog
from export_core.errors import CatalogError, UnknownExportType, UnknownTemplate

# The seed's tables, transcribed independently of catalog.toml (spec "Templates & Configuration").
SEED_HEADERS = {
    ("participants", "standard"): [
        "ID", "Form ID", "First Name", "Last Name", "Email", "Phone", "Nationality", "State",
        "Status",
    ],
    ("participants", "detailed"): [
        "ID", "Form ID", "First Name", "Last Name", "Email", "Phone", "Birth Date",
        "Nationality", "State", "Status", "Active", "Created At",
    ],
    ("participants", "summary"): [
        "ID", "First Name", "Last Name", "Email", "Status", "Registration Date",
    ],
    ("participants", "complete"): [
        "ID", "Form ID", "First Name", "Last Name", "Email", "Phone", "Birth Date",
        "Nationality", "State", "Status", "Active", "Deleted", "Created", "Updated", "Notes",
    ],
    ("payments", "standard"): [
        "ID", "Participant ID", "Amount", "Payment Date", "Status", "Reference", "Created",
        "Updated",
    ],
    ("payments", "detailed"): [
        "ID", "Participant ID", "Payment Method", "Amount", "USD Amount", "Payment Date",
        "Status", "Reference", "Notes", "Created", "Updated",
    ],
    ("ambassadors", "standard"): [
        "ID", "Participant ID", "Code", "Category", "Status", "Referrals", "Commission",
    ],
    ("ambassadors", "detailed"): [
        "ID", "Participant ID", "Code", "Category", "Status", "Referrals", "Commission",
        "Active", "Created", "Updated",
    ],
}  # fmt: skip

SEED_MAPPINGS = {
    "form_status": {"1": "Draft", "2": "Submitted", "3": "Approved", "4": "Rejected"},
    "payment_status": {"1": "Pending", "2": "Completed", "3": "Failed", "4": "Refunded"},
    "payment_method": {"1": "Credit Card", "2": "Bank Transfer", "3": "PayPal", "4": "Cash"},
    "boolean_status": {"0": "No", "1": "Yes"},
    "category": {
        "university": "University",
        "high_school": "High School",
        "professional": "Professional",
        "community": "Community",
    },
}

SEED_CHUNK_SIZES = {
    ("participants", "standard"): 2000,
    ("participants", "detailed"): 1500,
    ("participants", "complete"): 1000,
    ("payments", "standard"): 3000,
    ("payments", "detailed"): 2000,
    ("ambassadors", "standard"): 2500,
    ("ambassadors", "detailed"): 2000,
}


def raw_catalog() -> dict[str, Any]:
    text = resources.files("export_core").joinpath("catalog.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def test_eight_templates_with_the_seed_headers() -> None:
    catalog = get_catalog()
    found = {(t, n): list(tpl.headers) for t, d in catalog.types.items() for n, tpl in
             d.templates.items()}  # fmt: skip
    assert found == SEED_HEADERS


def test_status_mappings_are_the_seeds() -> None:
    assert get_catalog().status_mappings == SEED_MAPPINGS


def test_limits_and_chunk_sizes_are_the_seeds() -> None:
    catalog = get_catalog()
    limits = catalog.limits
    assert (limits.max_records_per_request, limits.max_chunk_size) == (50000, 5000)
    assert (limits.file_retention_days, limits.max_concurrent_exports) == (1, 10)
    assert (limits.chunked_threshold, limits.memory_limit_mb, limits.timeout_seconds) == (
        5000,
        500,
        300,
    )
    for (export_type, name), size in SEED_CHUNK_SIZES.items():
        assert catalog.template(export_type, name).chunk_size == size


def test_seed_sensitivity_flags_and_descriptions() -> None:
    catalog = get_catalog()
    participants = catalog.types["participants"].templates
    assert {n: t.includes_sensitive_data for n, t in participants.items()} == {
        "standard": False,
        "detailed": True,
        "summary": False,
        "complete": True,
    }
    assert participants["standard"].description == "Basic participant information"
    assert participants["complete"].description == "All participant data"


def test_every_column_has_a_known_kind_and_status_columns_a_mapping() -> None:
    catalog = get_catalog()
    for data_type in catalog.types.values():
        for template in data_type.templates.values():
            for column in template.columns:
                assert column.kind in FIELD_KINDS
                if column.kind in ("status", "boolean"):
                    assert column.mapping in catalog.status_mappings


def test_unknown_type_and_template_use_the_seed_message() -> None:
    catalog = get_catalog()
    with pytest.raises(UnknownTemplate, match=r"^Template 'nope' not found for participants$"):
        catalog.template("participants", "nope")
    with pytest.raises(UnknownExportType, match="Unknown export type 'visitors'"):
        catalog.template("visitors", "standard")


@pytest.mark.parametrize(
    ("breakage", "named"),
    [
        (lambda c: c["types"]["payments"]["templates"]["standard"]["headers"].pop(),
         "types.payments.templates.standard has 8 fields but 7 headers"),
        (lambda c: c["types"]["participants"]["fields"].update(birthdate="when"),
         "field 'birthdate' has unknown kind 'when'"),
        (lambda c: c["types"]["payments"]["fields"].update(payment_status="status:nope"),
         "names unknown mapping 'nope'"),
        (lambda c: c["types"]["ambassadors"]["chunk_sizes"].pop("detailed"),
         "types.ambassadors.chunk_sizes is missing 'detailed'"),
        (lambda c: (c["types"]["participants"]["templates"]["summary"]["fields"].append("shoe"),
                    c["types"]["participants"]["templates"]["summary"]["headers"].append("Shoe")),
         "uses fields with no kind: shoe"),
        (lambda c: c["limits"].pop("max_chunk_size"), "limits is missing 'max_chunk_size'"),
    ],
)  # fmt: skip
def test_broken_catalog_fails_naming_the_entry(breakage: Any, named: str) -> None:
    broken = copy.deepcopy(raw_catalog())
    breakage(broken)
    with pytest.raises(CatalogError) as info:
        parse_catalog(broken)
    assert named in str(info.value)
