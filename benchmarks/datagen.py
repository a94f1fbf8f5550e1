"""Seeded, realistic record generators for the three data types (participants, payments,
ambassadors), shaped like what the CodeIgniter platform posts: JSON numbers and strings, codes
as 1 or "1", some missing keys and nulls, unicode names, long notes, formula-like text, a few
unknown codes and unparseable dates. The same seed always gives the same records.

    from benchmarks.datagen import records
    rows = records("participants", 50_000, seed=7)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

Record = dict[str, Any]

# fmt: off
FIRST_NAMES = (
    "John", "Amélie", "Siti", "Nguyễn", "Zoë", "Muhammad", "Łukasz", "Ana María", "Юлия",
    "山田", "Chloé", "O'Brien", "Kwame", "Søren", "Ayşe", "Putu", "Renée", "José", "Li", "Björk",
)
LAST_NAMES = (
    "Doe", "Dupont", "Rahmawati", "Văn An", "Müller", "Al-Farsi", "Kowalski", "García López",
    "Иванова", "太郎", "Smith-Jones", "Okafor", "Østergaard", "Yılmaz", "Wijaya", "Nakamura",
)
NATIONALITIES = (
    "American", "Indonesian", "French", "German", "Japanese", "Nigerian", "Brazilian",
    "Indian", "Turkish", "Vietnamese", "Côte d'Ivoire", "",
)
STATES = ("California", "Jawa Barat", "Île-de-France", "Bayern", "Tokyo", "Lagos", "São Paulo")
# Text a spreadsheet would run as a formula if it were not neutralised.
HOSTILE = ('=HYPERLINK("http://x","y")', "+62 812 3456", "-1", "@SUM(A1)", "\tindent", "=1+1")
NOTE_WORDS = (
    "registration", "follow-up", "visa", "letter", "payment", "scholarship", "délégation",
    "需要", "confirmed", "called, no answer", 'said "maybe"', "line\nbreak",
)
# fmt: on
START = datetime(2023, 1, 1)


def _pick(rng: random.Random, values: tuple[str, ...]) -> str:
    return values[rng.randrange(len(values))]


def _stamp(rng: random.Random) -> str:
    return (START + timedelta(seconds=rng.randrange(0, 2 * 365 * 86_400))).strftime(
        "%Y-%m-%d %H:%M:%S"
    )


def _code(rng: random.Random, codes: int) -> Any:
    """A status code as the platform sends it: mostly an int, sometimes text, rarely unknown."""
    roll = rng.random()
    if roll < 0.01:
        return 9  # an unknown code: kept as raw text and reported
    code = rng.randint(1, codes)
    return str(code) if roll < 0.2 else code


def _notes(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.3:
        return None
    if roll < 0.33:
        return _pick(rng, HOSTILE)
    if roll < 0.36:
        return " ".join(_pick(rng, NOTE_WORDS) for _ in range(rng.randint(80, 200)))  # long
    return " ".join(_pick(rng, NOTE_WORDS) for _ in range(rng.randint(1, 12)))


def _sometimes_missing(rng: random.Random, record: Record, rate: float = 0.03) -> Record:
    """Drop a few keys or null them, as real exports of half-filled forms do."""
    for key in list(record):
        if key != "id" and rng.random() < rate:
            if rng.random() < 0.5:
                del record[key]
            else:
                record[key] = None
    return record


def participant(rng: random.Random, index: int) -> Record:
    """One participant record (all 15 fields of the complete template)."""
    first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES)
    year, month, day = rng.randint(1960, 2008), rng.randint(1, 12), rng.randint(1, 28)
    birthdate = f"{year:04d}-{month:02d}-{day:02d}" if rng.random() > 0.005 else "15/05/1995"
    created = _stamp(rng)
    record: Record = {
        "id": index,
        "form_id": f"YBB2024_{index:06d}",
        "first_name": first,
        "last_name": last,
        "email": f"user{index}@example.com",
        "phone": f"+62 8{rng.randrange(10**9, 10**10)}",
        "birthdate": birthdate,
        "nationality": _pick(rng, NATIONALITIES),
        "state": _pick(rng, STATES),
        "form_status": _code(rng, 4),
        "is_active": rng.choice((0, 1, 1, 1, "1", True)),
        "is_deleted": rng.choice((0, 0, 0, 1, False)),
        "created_at": created,
        "updated_at": created if rng.random() < 0.5 else _stamp(rng),
        "notes": _notes(rng),
    }
    return _sometimes_missing(rng, record)


def payment(rng: random.Random, index: int) -> Record:
    """One payment record (all 11 fields of the detailed template)."""
    amount = round(rng.uniform(5, 5_000), 2)
    record: Record = {
        "id": index,
        "participant_id": rng.randint(1, 50_000),
        "payment_method_id": _code(rng, 4),
        "amount": amount,
        "usd_amount": amount if rng.random() < 0.7 else str(round(amount / 15_000, 2)),
        "payment_date": _stamp(rng)[:10],
        "payment_status": _code(rng, 4),
        "reference_number": f"PAY_{index:06d}_2024" if rng.random() > 0.02 else "=1+1",
        "notes": _notes(rng),
        "created_at": _stamp(rng),
        "updated_at": _stamp(rng),
    }
    return _sometimes_missing(rng, record)


CATEGORIES = ("university", "high_school", "professional", "community", "University")


def ambassador(rng: random.Random, index: int) -> Record:
    """One ambassador record (all 10 fields of the detailed template)."""
    record: Record = {
        "id": index,
        "participant_id": rng.randint(1, 50_000),
        "ambassador_code": f"AMB_{index:05d}",
        "category": _pick(rng, CATEGORIES) if rng.random() > 0.01 else "alumni",
        "status": rng.choice(("active", "inactive", "pending")),
        "referral_count": rng.randint(0, 300),
        "commission_earned": round(rng.uniform(0, 10_000), 2),
        "is_active": rng.choice((0, 1, "1")),
        "created_at": _stamp(rng),
        "updated_at": _stamp(rng),
    }
    return _sometimes_missing(rng, record)


GENERATORS: dict[str, Callable[[random.Random, int], Record]] = {
    "participants": participant,
    "payments": payment,
    "ambassadors": ambassador,
}


def records(export_type: str, count: int, seed: int = 0) -> list[Record]:
    """`count` records of `export_type`, ids 1..count, the same for the same seed."""
    make = GENERATORS[export_type]
    rng = random.Random(f"{export_type}:{seed}")
    return [make(rng, index) for index in range(1, count + 1)]
