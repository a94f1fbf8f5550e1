"""Sample datasets for each data type: realistic records generated deterministically (the same
seed gives the same records), for the "Load a sample" button, the tests and the benchmarks."""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

SAMPLE_SIZE = 25
_FIRST = (
    "Amina",
    "Budi",
    "Chen",
    "Dewi",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jonas",
    "Kofi",
    "Laila",
    "Mateo",
    "Nadia",
    "Omar",
    "Priya",
    "Quinn",
    "Rania",
    "Sven",
    "Tariq",
)
_LAST = (
    "Abdullah",
    "Santoso",
    "Wang",
    "Lestari",
    "Rossi",
    "Haddad",
    "Okafor",
    "Tanaka",
    "García",
    "Müller",
    "Mensah",
    "Rahman",
    "Silva",
    "Nowak",
    "Yilmaz",
    "Sharma",
)
_NATIONS = (
    ("Indonesian", "Jakarta"),
    ("Malaysian", "Selangor"),
    ("Nigerian", "Lagos"),
    ("Japanese", "Tokyo"),
    ("German", "Bavaria"),
    ("American", "California"),
    ("Turkish", "Istanbul"),
    ("Brazilian", "São Paulo"),
    ("Indian", "Karnataka"),
)
_CATEGORIES = ("university", "high_school", "professional", "community")
_BASE = datetime(2024, 1, 8, 9, 0, 0)
Record = dict[str, Any]


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def _stamp(rng: random.Random, days: int = 120) -> datetime:
    return _BASE + timedelta(days=rng.randrange(days), minutes=rng.randrange(600))


def _participant(rng: random.Random, n: int) -> Record:
    first, last = rng.choice(_FIRST), rng.choice(_LAST)
    nationality, state = rng.choice(_NATIONS)
    created = _stamp(rng)
    return {
        "id": n,
        "form_id": f"YBB2024_{n:05d}",
        "first_name": first,
        "last_name": last,
        "email": _ascii(f"{first}.{last}{n}@example.org".lower()),
        "phone": f"0812-{rng.randrange(1000, 9999)}-{rng.randrange(1000, 9999)}",
        "birthdate": (date(1994, 1, 1) + timedelta(days=rng.randrange(3650))).isoformat(),
        "nationality": nationality,
        "state": state,
        "form_status": rng.choice((1, 2, 2, 3, 3, 3, 4)),
        "is_active": rng.choice((1, 1, 1, 0)),
        "is_deleted": 0,
        "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
        "updated_at": (created + timedelta(days=rng.randrange(20))).strftime("%Y-%m-%d %H:%M:%S"),
        "notes": rng.choice(("", "Scholarship applicant", "Needs visa letter", "Alumni referral")),
    }


def _payment(rng: random.Random, n: int) -> Record:
    amount = rng.choice((150.0, 350.0, 750.0, 1500.0, 2450.5))
    created = _stamp(rng)
    return {
        "id": n,
        "participant_id": rng.randrange(1, 5000),
        "payment_method_id": rng.choice((1, 2, 3, 4)),
        "amount": amount,
        "usd_amount": amount,
        "payment_date": created.date().isoformat(),
        "payment_status": rng.choice((1, 2, 2, 2, 3, 4)),
        "reference_number": f"PAY_{n:05d}_2024",
        "notes": rng.choice(("Registration fee", "Program fee", "Accommodation", "")),
        "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
        "updated_at": created.strftime("%Y-%m-%d %H:%M:%S"),
    }


def _ambassador(rng: random.Random, n: int) -> Record:
    referrals = rng.randrange(0, 60)
    created = _stamp(rng)
    return {
        "id": n,
        "participant_id": rng.randrange(1, 5000),
        "ambassador_code": f"AMB_{n:04d}",
        "category": rng.choice(_CATEGORIES),
        "status": rng.choice(("active", "active", "paused", "inactive")),
        "referral_count": referrals,
        "commission_earned": round(referrals * 50.0, 2),
        "is_active": rng.choice((1, 1, 0)),
        "created_at": created.strftime("%Y-%m-%d %H:%M:%S"),
        "updated_at": created.strftime("%Y-%m-%d %H:%M:%S"),
    }


_MAKERS: dict[str, Callable[[random.Random, int], Record]] = {
    "participants": _participant,
    "payments": _payment,
    "ambassadors": _ambassador,
}


def sample_records(export_type: str, count: int = SAMPLE_SIZE, seed: int = 2024) -> list[Record]:
    """`count` realistic records of `export_type`; the same arguments give the same records."""
    rng = random.Random(f"{export_type}:{seed}")
    make = _MAKERS[export_type]
    return [make(rng, n) for n in range(1, count + 1)]


def sample_json(export_type: str, count: int = SAMPLE_SIZE, seed: int = 2024) -> str:
    """The sample records as a JSON array (what a user would paste)."""
    return json.dumps(sample_records(export_type, count, seed), ensure_ascii=False)


def sample_csv(export_type: str, count: int = SAMPLE_SIZE, seed: int = 2024) -> str:
    """The sample records as CSV text with a header row (what a user would upload)."""
    import csv
    import io

    records = sample_records(export_type, count, seed)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(records[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return out.getvalue()


def sample_types() -> tuple[str, ...]:
    """The data types that have a sample dataset."""
    return tuple(_MAKERS)
