"""Header matching: real-world header sets -> the expected fields, overrides, conflicts, labels."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest

from export_core.catalog import get_catalog
from export_core.errors import MappingConflict, ValidationError
from export_core.mapping import detect_export_type, map_frame
from export_core.matching import header_fingerprint, match_columns, normalise
from export_core.model import ExportOptions
from export_core.readers import read_csv, records_to_frame
from export_core.service import write_export

CATALOG = get_catalog()


def mapping_of(export_type: str, columns: list[str], **kw: object) -> dict[str, str | None]:
    template = CATALOG.template(export_type, "standard")
    return match_columns(columns, template, CATALOG, **kw).as_column_map()  # type: ignore[arg-type]


# (where the header set comes from, data type, header -> expected field; None: left unmatched)
HEADER_SETS: list[tuple[str, str, dict[str, str | None]]] = [
    (
        "the issue's partner CSV",
        "participants",
        {
            "No": None,
            "Form ID": "form_id",
            "First Name": "first_name",
            "Last Name": "last_name",
            "Email Address": "email",
            "Phone Number": "phone",
            "Status": "form_status",
        },
    ),
    (
        "Google Forms responses",
        "participants",
        {
            "Timestamp": "created_at",
            "Email address": "email",
            "Full Name": None,
            "Date of Birth": "birthdate",
            "Country": "nationality",
            "WhatsApp Number": "phone",
            "Any comments?": "notes",
        },
    ),
    (
        "Indonesian registration sheet",
        "participants",
        {
            "No": None,
            "Nama Depan": "first_name",
            "Nama Belakang": "last_name",
            "Alamat Email": "email",
            "No. HP": "phone",
            "Tanggal Lahir": "birthdate",
            "Provinsi": "state",
            "Kewarganegaraan": "nationality",
            "Keterangan": "notes",
        },
    ),
    (
        "an older export of the complete template (headers as names)",
        "participants",
        {
            "ID": "id",
            "Form ID": "form_id",
            "Birth Date": "birthdate",
            "Active": "is_active",
            "Deleted": "is_deleted",
            "Created": "created_at",
            "Updated": "updated_at",
        },
    ),
    (
        "a partner sheet with typos, odd case, accents and separators",
        "participants",
        {
            "FRIST NAME": "first_name",
            "last-name": "last_name",
            "E_Mail": "email",
            "Nationalité": "nationality",
            "form__status": "form_status",
            "Phone No": "phone",
            "Date": None,
            "Name": None,
        },
    ),
    (
        "a finance sheet (payments)",
        "payments",
        {
            "Participant": "participant_id",
            "Payment Method": "payment_method_id",
            "Total": "amount",
            "Tanggal Pembayaran": "payment_date",
            "Status": "payment_status",
            "Ref No": "reference_number",
            "Amount USD": "usd_amount",
        },
    ),
    (
        "an ambassadors sheet in Indonesian",
        "ambassadors",
        {
            "ID Peserta": "participant_id",
            "Kode Referral": "ambassador_code",
            "Kategori": "category",
            "Jumlah Referral": "referral_count",
            "Komisi": "commission_earned",
        },
    ),
]


@pytest.mark.parametrize(("source", "export_type", "expected"), HEADER_SETS, ids=lambda x: x)
def test_real_world_header_sets(
    source: str, export_type: str, expected: dict[str, str | None]
) -> None:
    assert mapping_of(export_type, list(expected)) == expected, source


def test_every_template_header_and_field_name_matches_itself() -> None:
    for data_type in CATALOG.types.values():
        for template in data_type.templates.values():
            for column in template.columns:
                for name in (column.field, column.header, column.header.upper()):
                    got = match_columns([name], template, CATALOG).matches[0]
                    assert got.field == column.field, (template.name, name, got)


def test_methods_and_scores_say_how_each_column_was_matched() -> None:
    template = CATALOG.template("participants", "standard")
    got = {
        m.source: (m.method, m.score)
        for m in match_columns(
            ["email", "First Name", "E-MAIL ", "No HP", "Frist Name", "Nama Lengkap"],
            template,
            CATALOG,
        ).matches
    }
    assert got["email"] == ("field", 1.0)
    assert got["First Name"] == ("header", 1.0)
    # "E-MAIL " normalises to email, which the exact field name already took.
    assert got["E-MAIL "][0] == "none"
    assert got["No HP"] == ("synonym", 0.95)
    # "Frist Name" is similar to first_name, but "First Name" claimed it exactly.
    assert got["Frist Name"][0] == "none"
    assert got["Nama Lengkap"][0] == "none"


def test_ambiguous_and_weak_columns_are_left_for_the_person() -> None:
    template = CATALOG.template("participants", "standard")
    both, weak = match_columns(["First Last Name", "Birth"], template, CATALOG).matches
    assert (both.field, both.method, both.candidates) == (
        None,
        "ambiguous",
        ("first_name", "last_name"),
    )
    assert (weak.field, weak.method) == (None, "none")
    assert weak.score < 0.8  # below the threshold (scores under 0.75 are not worked out)


def test_normalise_and_fingerprint() -> None:
    assert normalise("  Fòrm-ID__no. ") == "form id no"
    assert normalise("Tanggal\u00a0Lahir") == "tanggal lahir"
    a = header_fingerprint(["Email Address", "First Name", "No"])
    assert a == header_fingerprint(["no", "first_name", "EMAIL-ADDRESS"])
    assert a != header_fingerprint(["Email Address", "First Name"])


def test_column_map_overrides_ignores_and_is_checked() -> None:
    got = mapping_of(
        "participants",
        ["No", "Email Address", "Contact"],
        column_map={"Contact": "phone", "Email Address": None, "Not in file": "notes"},
    )
    assert got == {"No": None, "Email Address": None, "Contact": "phone"}
    with pytest.raises(ValidationError, match="'emial', which is not a field of participants"):
        mapping_of("participants", ["Email Address"], column_map={"Email Address": "emial"})
    with pytest.raises(MappingConflict, match="both mapped to 'email'"):
        mapping_of("participants", ["A", "B"], column_map={"A": "email", "B": "email"})


def test_manual_choice_takes_the_field_from_an_automatic_match() -> None:
    got = mapping_of("participants", ["email", "Work Email"], column_map={"Work Email": "email"})
    assert got == {"email": None, "Work Email": "email"}


def test_the_issue_file_maps_email_phone_and_labels(tmp_path: Path) -> None:
    text = (
        "No,Form ID,First Name,Last Name,Email Address,Phone Number,Status\n"
        "1,F-1,Ann,Lee,ann@example.org,0812,Approved\n"
        "2,F-2,Bo,Kim,bo@example.org,0813,rejected\n"
        "3,F-3,Cy,Ng,cy@example.org,0814,APPROVED\n"
        "4,F-4,Di,Wu,di@example.org,0815,Pending\n"
    )
    frame = read_csv(text.encode())
    assert detect_export_type(frame.columns) == "participants"
    mapped = map_frame(frame, CATALOG.template("participants", "standard"))
    assert mapped.frame["email"].to_list()[:2] == ["ann@example.org", "bo@example.org"]
    assert mapped.frame["phone"].to_list()[0] == "0812"
    assert mapped.frame["form_status"].to_list() == ["Approved", "Rejected", "Approved", "Pending"]
    # Labels are codes; "Pending" is no form status label (it is a payment's): still reported.
    assert mapped.quality.unknown_codes == {"Status": {"Pending": 1}}
    assert mapped.quality.extra_fields == ("No",)
    assert mapped.quality.columns["Email Address"] == {
        "field": "email",
        "method": "synonym",
        "score": 0.95,
    }
    assert mapped.quality.columns["No"]["field"] is None
    result = write_export(
        frame,
        ExportOptions("participants", column_map=(("No", "notes"),), template="complete"),
        tmp_path,
    )
    sheet = openpyxl.load_workbook(tmp_path / result.files[0].file_name).active
    assert sheet is not None
    header = [c.value for c in sheet[1]]
    assert sheet.cell(2, header.index("Email") + 1).value == "ann@example.org"
    assert sheet.cell(3, header.index("Notes") + 1).value == "2"
    assert sheet.cell(4, header.index("Status") + 1).value == "Approved"  # "APPROVED"
    assert result.quality.columns["No"] == {"field": "notes", "method": "manual", "score": 1.0}


@pytest.mark.parametrize(
    ("value", "label"),
    [("Yes", "Yes"), ("yes", "Yes"), ("NO", "No"), ("true", "Yes"), ("0", "No"), ("1", "Yes")],
)
def test_yes_no_labels_are_booleans(value: str, label: str) -> None:
    frame = records_to_frame([{"Active": value}])
    mapped = map_frame(frame, CATALOG.template("participants", "detailed"))
    assert mapped.frame["is_active"].to_list() == [label]
    assert mapped.quality.unknown_codes == {}


def test_every_status_label_in_any_case_is_accepted_as_its_code() -> None:
    for data_type in CATALOG.types.values():
        for template in data_type.templates.values():
            for column in template.columns:
                if column.mapping is None:
                    continue
                labels = list(CATALOG.status_mappings[column.mapping].values())
                cases = [f(label) for label in labels for f in (str.lower, str.upper, str)]
                frame = records_to_frame([{column.field: v} for v in cases])
                mapped = map_frame(frame, template)
                assert mapped.frame[column.field].to_list() == [
                    label for label in labels for _ in range(3)
                ]
                assert mapped.quality.unknown_codes == {}
