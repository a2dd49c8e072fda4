"""A synthetic trust at scale, for load tests, query plans and benchmarks: `manage.py generate_trust --patients N`.

Development only, like the rest of this app (it is not installed when CAREPORTAL_ENV=production). Everything is made
up, deterministically from `seed`: names from short lists, NHS numbers from the 999 test range that the NHS never
issues, phone numbers from Ofcom's drama ranges, addresses on made-up streets, email addresses at example.org.
Hospital numbers start with SYN, which is how a later run (and `synthetic_patient_count`) tells these patients apart.

Rows are written in bulk, not through the models: COPY on PostgreSQL, executemany on SQLite, all in one transaction
(a failed run leaves nothing behind). Ids are given here, after the highest already in each table, and the
sequences moved past them at the end: run it on a database that nothing else is writing to.

What each patient gets, roughly as a district general hospital's records look:
- lab reports (full blood count, U&E, liver, lipids, HbA1c, thyroid, CRP, ferritin) with LOINC-coded values around
  their reference ranges, spread over five years, more for patients with a long-term condition (diabetes, kidney
  disease, anaemia), flagged H/L (and HH/LL past the critical limits) as the lab would; a few imaging and
  histology reports. Each report has the release rule the trust's rules give it today: released when it fell due,
  waiting when it is not due yet or awaits review, a few held by a clinician;
- appointments (past ones attended, missed or cancelled; some booked in the coming months), letters for past
  appointments (metadata only: no PDF is written, see docs/data-at-scale.md), message threads for some patients with
  an account, access-log entries, and proxies: a parent for children, a carer for some older patients.

Portal accounts (for a share of patients, and every proxy) all carry ONE password hash, made once at the start:
hashing a password per account (Argon2, on purpose slow) would take longer than everything else together. The
password is `SYNTHETIC_PASSWORD`, published here because these accounts hold no real data.
"""

import datetime
import hashlib
import json
import queue
import random
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection, transaction
from django.db.models import Model
from django.utils import timezone

SYNTHETIC_PASSWORD = "CarePortal-synthetic-1"  # noqa: S105 - published on purpose: synthetic accounts only
HOSPITAL_NUMBER_PREFIX = "SYN"
SOURCE_SYSTEM_LAB = "SYNLAB"
SOURCE_SYSTEM_PAS = "SYNPAS"
SOURCE_SYSTEM_EDM = "SYNEDM"
YEARS_OF_HISTORY = 5
# The share of patients with a portal account, of those with an account who wrote to a team, and so on.
ACCOUNT_SHARE = 0.6
MESSAGING_SHARE = 0.25
HELD_SHARE = 0.004
# The 999 test range: 999 000 000 0 to 999 999 999 9, about 909,000 valid numbers (a tenth fail modulus 11).
NHS_TEST_PREFIX_START = 999_000_000
NHS_TEST_PREFIX_COUNT = 1_000_000
# A multiplier prime to 10^6 walks every 9-digit prefix of the range once, in an order that looks random.
_NHS_STRIDE = 387_419


# The PDF every synthetic letter holds when its file is written (`letter_files`): one page, no patient details.
LETTER_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    b"4 0 obj<</Length 54>>stream\nBT /F1 14 Tf 72 770 Td (Synthetic clinic letter) Tj ET\nendstream endobj\n"
    b"5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
LETTER_PDF_SHA256 = hashlib.sha256(LETTER_PDF).hexdigest()


class GenerateRefused(Exception):
    """The database is not one to fill (production, real patients, an earlier run): the message says why."""


# Made-up people --------------------------------------------------------------------------------------------------

GIVEN_NAMES_FEMALE = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Grace",
    "Sophia",
    "Lily",
    "Freya",
    "Emily",
    "Ivy",
    "Ella",
    "Rosie",
    "Evie",
    "Florence",
    "Poppy",
    "Charlotte",
    "Aisha",
    "Fatima",
    "Maryam",
    "Zara",
    "Priya",
    "Ananya",
    "Chloe",
    "Ruby",
    "Sienna",
    "Hannah",
    "Eleanor",
    "Margaret",
    "Patricia",
    "Susan",
    "Janet",
    "Linda",
    "Helen",
    "Karen",
    "Sarah",
    "Emma",
    "Rachel",
    "Joanne",
    "Nicola",
    "Claire",
    "Lucy",
    "Siobhan",
    "Niamh",
    "Aoife",
    "Ngozi",
    "Chiamaka",
    "Adaeze",
    "Wei",
    "Mei",
    "Yasmin",
    "Zainab",
    "Hana",
    "Agnieszka",
    "Katarzyna",
    "Ioana",
    "Maria",
    "Sofia",
    "Amara",
    "Kemi",
    "Dorothy",
    "Joan",
    "Irene",
    "Elsie",
    "Beryl",
    "Pauline",
]
GIVEN_NAMES_MALE = [
    "Oliver",
    "George",
    "Noah",
    "Arthur",
    "Muhammad",
    "Leo",
    "Harry",
    "Oscar",
    "Archie",
    "Jack",
    "Henry",
    "Charlie",
    "Freddie",
    "Theo",
    "Alfie",
    "Jacob",
    "Thomas",
    "James",
    "William",
    "Daniel",
    "Samuel",
    "Joseph",
    "David",
    "Michael",
    "John",
    "Peter",
    "Paul",
    "Robert",
    "Richard",
    "Stephen",
    "Mark",
    "Andrew",
    "Christopher",
    "Ahmed",
    "Ali",
    "Omar",
    "Yusuf",
    "Ibrahim",
    "Hassan",
    "Arjun",
    "Rohan",
    "Vikram",
    "Sanjay",
    "Ravi",
    "Chidi",
    "Emeka",
    "Tunde",
    "Kwame",
    "Kofi",
    "Wei",
    "Jun",
    "Hao",
    "Piotr",
    "Tomasz",
    "Andrei",
    "Mihai",
    "Luca",
    "Marco",
    "Sean",
    "Ciaran",
    "Declan",
    "Conor",
    "Malcolm",
    "Kenneth",
    "Derek",
    "Trevor",
    "Leslie",
    "Dennis",
]
FAMILY_NAMES = [
    "Smith",
    "Jones",
    "Williams",
    "Taylor",
    "Brown",
    "Davies",
    "Evans",
    "Wilson",
    "Thomas",
    "Johnson",
    "Roberts",
    "Robinson",
    "Thompson",
    "Wright",
    "Walker",
    "White",
    "Edwards",
    "Hughes",
    "Green",
    "Hall",
    "Lewis",
    "Harris",
    "Clarke",
    "Patel",
    "Jackson",
    "Wood",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Morris",
    "Moore",
    "Clark",
    "Lee",
    "King",
    "Baker",
    "Harrison",
    "Morgan",
    "Allen",
    "James",
    "Scott",
    "Phillips",
    "Watson",
    "Davis",
    "Parker",
    "Price",
    "Bennett",
    "Young",
    "Griffiths",
    "Mitchell",
    "Kelly",
    "Cook",
    "Carter",
    "Richardson",
    "Bailey",
    "Collins",
    "Bell",
    "Shaw",
    "Murphy",
    "Miller",
    "Cox",
    "Richards",
    "Khan",
    "Marshall",
    "Anderson",
    "Simpson",
    "Ellis",
    "Adams",
    "Singh",
    "Begum",
    "Wright",
    "Chapman",
    "Mason",
    "Ali",
    "Hussain",
    "Ahmed",
    "Shah",
    "Akhtar",
    "Kaur",
    "Sharma",
    "Gill",
    "Okafor",
    "Adeyemi",
    "Mensah",
    "Owusu",
    "Nwosu",
    "Chen",
    "Wang",
    "Li",
    "Zhang",
    "Nguyen",
    "Kowalski",
    "Nowak",
    "Popescu",
    "Rossi",
    "O'Brien",
    "O'Connor",
    "Murray",
    "Campbell",
    "Stewart",
    "Reid",
    "MacDonald",
    "Fraser",
    "Hargreaves",
    "Ramsbottom",
    "Whitfield",
    "Pemberton",
    "Ashworth",
]
STREETS = [
    "High Street",
    "Station Road",
    "Church Lane",
    "Mill Lane",
    "Victoria Road",
    "Park Avenue",
    "Green Lane",
    "Manor Road",
    "Kings Road",
    "Queens Road",
    "The Crescent",
    "Albert Street",
    "New Road",
    "Grove Road",
    "Elm Court",
    "Cranbrook Road",
    "Hornsey Lane",
    "Chestnut Close",
    "Orchard Way",
    "Riverside Walk",
    "Willow Drive",
    "Beech Grove",
    "St John's Road",
    "Highfield Road",
    "Springfield Avenue",
]
# Towns with the postcode districts they use: synthetic postcodes in the right format (BS 7666) and area.
TOWNS = (
    ("London", "N", 22),
    ("London", "E", 18),
    ("Barnet", "EN", 5),
    ("Enfield", "EN", 3),
    ("Watford", "WD", 25),
    ("St Albans", "AL", 4),
    ("Luton", "LU", 4),
    ("Harlow", "CM", 20),
)
POSTCODE_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"


# Lab panels: (test code, name, category, specimen, team, weight, analytes) ----------------------------------------


@dataclass(frozen=True)
class Analyte:
    code: str  # LOINC
    name: str
    unit: str
    low: float | None
    high: float | None
    decimals: int
    # Where a healthy person's values sit (mean, spread), and the lab's critical limits (telephoned to the team).
    mean: float
    spread: float
    critical_low: float | None = None
    critical_high: float | None = None
    # The female range, where the lab reports by sex (haemoglobin, creatinine).
    female: tuple[float, float, float] | None = None  # (low, high, mean)
    # Which long-term condition moves it, and by how much (in spreads).
    condition: str = ""
    shift: float = 0.0


@dataclass(frozen=True)
class Panel:
    code: str
    name: str
    category: str
    specimen: str
    team: str
    weight: float
    analytes: tuple[Analyte, ...]
    value_type: str = "NM"


PANELS = (
    Panel(
        "FBC",
        "Full blood count",
        "HM",
        "Venous blood",
        "Haematology",
        25,
        (
            Analyte("718-7", "Haemoglobin", "g/L", 130, 175, 0, 148, 10, 70, 200, (115, 165, 135), "anaemia", -3.5),
            Analyte("6690-2", "White cell count", "10*9/L", 4.0, 11.0, 1, 6.8, 1.6, 1.0, 30),
            Analyte("777-3", "Platelets", "10*9/L", 150, 400, 0, 260, 55, 40, 1000),
            Analyte("787-2", "Mean cell volume", "fL", 80, 100, 0, 90, 4.5, None, None, None, "anaemia", -2.5),
            Analyte("751-8", "Neutrophils", "10*9/L", 2.0, 7.5, 1, 4.2, 1.2, 0.5, None),
            Analyte("731-0", "Lymphocytes", "10*9/L", 1.0, 4.0, 1, 2.1, 0.6),
        ),
    ),
    Panel(
        "UE",
        "Urea and electrolytes",
        "CH",
        "Serum",
        "Renal Medicine",
        25,
        (
            Analyte("2951-2", "Sodium", "mmol/L", 133, 146, 0, 139, 2.5, 120, 160),
            Analyte("2823-3", "Potassium", "mmol/L", 3.5, 5.3, 1, 4.3, 0.35, 2.5, 6.5, None, "ckd", 1.5),
            Analyte("22664-7", "Urea", "mmol/L", 2.5, 7.8, 1, 5.0, 1.3, None, 30, None, "ckd", 4.0),
            Analyte("14682-9", "Creatinine", "umol/L", 59, 104, 0, 80, 11, None, 500, (45, 84, 65), "ckd", 6.0),
            Analyte("62238-1", "eGFR (CKD-EPI)", "mL/min/1.73m2", 60, None, 0, 88, 12, 15, None, None, "ckd", -4.0),
        ),
    ),
    Panel(
        "LFT",
        "Liver function tests",
        "CH",
        "Serum",
        "Gastroenterology",
        15,
        (
            Analyte("14631-6", "Bilirubin", "umol/L", 0, 21, 0, 9, 4, None, 300),
            Analyte("1742-6", "Alanine aminotransferase (ALT)", "U/L", 0, 40, 0, 22, 9),
            Analyte("6768-6", "Alkaline phosphatase (ALP)", "U/L", 30, 130, 0, 78, 22),
            Analyte("61151-7", "Albumin", "g/L", 35, 50, 0, 42, 3),
            Analyte("2324-2", "Gamma GT", "U/L", 0, 60, 0, 28, 13),
        ),
    ),
    Panel(
        "LIPID",
        "Cholesterol (lipid profile)",
        "CH",
        "Serum",
        "Diabetes and Endocrinology",
        8,
        (
            Analyte("14647-2", "Total cholesterol", "mmol/L", None, 5.0, 1, 4.9, 0.9),
            Analyte("14646-4", "HDL cholesterol", "mmol/L", 1.0, None, 2, 1.4, 0.35),
            Analyte("22748-8", "LDL cholesterol", "mmol/L", None, 3.0, 1, 2.9, 0.8),
            Analyte("14927-8", "Triglycerides", "mmol/L", None, 1.7, 1, 1.3, 0.5, None, None, None, "diabetes", 1.5),
        ),
    ),
    Panel(
        "HBA1C",
        "HbA1c (diabetes blood test)",
        "CH",
        "Whole blood",
        "Diabetes and Endocrinology",
        8,
        (Analyte("59261-8", "HbA1c", "mmol/mol", 20, 41, 0, 36, 3, None, None, None, "diabetes", 9.0),),
    ),
    Panel(
        "TFT",
        "Thyroid function tests",
        "CH",
        "Serum",
        "Diabetes and Endocrinology",
        6,
        (
            Analyte("3016-3", "TSH", "mU/L", 0.27, 4.2, 2, 1.8, 0.8),
            Analyte("14920-3", "Free T4", "pmol/L", 12, 22, 1, 16.5, 2.2),
        ),
    ),
    Panel(
        "CRP",
        "C-reactive protein (CRP)",
        "CH",
        "Serum",
        "General Medicine",
        8,
        (Analyte("1988-5", "C-reactive protein", "mg/L", 0, 5, 0, 3, 3, None, 300),),
    ),
    Panel(
        "FER",
        "Ferritin",
        "CH",
        "Serum",
        "Haematology",
        3,
        (Analyte("2276-4", "Ferritin", "ug/L", 30, 400, 0, 120, 60, None, None, None, "anaemia", -1.6),),
    ),
    Panel(
        "CXR",
        "Chest X-ray",
        "RAD",
        "",
        "Respiratory Medicine",
        1.5,
        (Analyte("36643-5", "Chest X-ray report", "", None, None, 0, 0, 0),),
        value_type="TX",
    ),
    Panel(
        "HISTO",
        "Histopathology",
        "SP",
        "Skin biopsy",
        "Dermatology",
        0.5,
        (Analyte("22637-3", "Pathology report diagnosis", "", None, None, 0, 0, 0),),
        value_type="TX",
    ),
)
IMAGING_TEXT = (
    "The lungs are clear. The heart is a normal size. No abnormality seen.",
    "Mild changes at both lung bases, likely scarring. No sign of infection.",
    "Clear lungs. No fluid or collapse. Normal chest X-ray.",
)
HISTOLOGY_TEXT = (
    "Benign compound naevus, completely removed.",
    "Seborrhoeic keratosis. No sign of anything worrying.",
    "Basal cell carcinoma, completely removed with clear margins.",
)

CARE_TEAMS = (
    # (name, response target in working days, sensitive category)
    ("Haematology", 3, ""),
    ("Renal Medicine", 3, ""),
    ("Gastroenterology", 5, ""),
    ("Diabetes and Endocrinology", 3, ""),
    ("General Medicine", 3, ""),
    ("Respiratory Medicine", 5, ""),
    ("Dermatology", 5, ""),
    ("Cardiology", 3, ""),
    ("Paediatrics", 3, ""),
    ("Sexual Health", 2, "sexual_health"),
)
CLINICIANS = ("Dr A Okafor", "Dr B Shah", "Dr C Lewis", "Dr D Nowak", "Dr E Murphy", "Dr F Chen", "Sister G Reid")
THREAD_SUBJECTS = (
    ("results", "Question about my blood test"),
    ("appointment", "Can I move my appointment?"),
    ("care", "Side effects from my new tablets"),
    ("care", "Repeat prescription query"),
    ("other", "Parking at the hospital"),
)
PATIENT_LINES = (
    "Hello, could you tell me what my latest result means? Thank you.",
    "I have a clash with work on the day of my appointment. Is there another date?",
    "Since starting the new tablets I have felt a bit dizzy in the mornings. Is that expected?",
    "Thank you for getting back to me so quickly.",
)
TEAM_LINES = (
    "Thank you for your message. Your result is as we expected and no change is needed. We will see you in clinic.",
    "We have passed this on to the booking team, who will contact you with a new date.",
    "Mild dizziness can happen at first. Please keep taking them and tell us if it gets worse.",
)


# The writer: COPY or executemany ---------------------------------------------------------------------------------


class _Writer:
    """Writes rows to one table through the raw DB-API connection, inside the caller's transaction."""

    def __init__(self) -> None:
        connection.ensure_connection()
        self.raw = connection.connection
        self.postgresql = connection.vendor == "postgresql"
        self.written: dict[str, int] = {}

    def write(self, model: type[Model], fields: Sequence[str], rows: list[tuple]) -> None:
        if not rows:
            return
        table = model._meta.db_table
        columns = ", ".join(connection.ops.quote_name(model._meta.get_field(name).column) for name in fields)
        if self.postgresql:
            with self.raw.cursor() as cursor, cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join("?" * len(fields))
            cursor = self.raw.cursor()
            try:
                cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608 - our own names  # nosec B608
            finally:
                cursor.close()
        self.written[table] = self.written.get(table, 0) + len(rows)


class _DeferredIndexes:
    """PostgreSQL, for a load larger than what the tables hold: drop the written tables' secondary indexes and
    foreign keys inside the transaction, and build them again after the last COPY.

    Filing twenty million rows into a B-tree index one row at a time (and checking each foreign key with a trigger
    per row) costs several times what building the same index once from the finished table costs: a build sorts the
    keys once (with `maintenance_work_mem`, and parallel workers), and `ADD CONSTRAINT ... FOREIGN KEY` checks a
    whole table with one join. Primary keys stay (other tables' foreign keys point at them), as do unique
    constraints that a foreign key relies on. Each index and constraint comes back from the definition PostgreSQL
    itself printed (`pg_get_indexdef`, `pg_get_constraintdef`), so it is the same object; and all of it is in the
    one transaction, so a failed run leaves the schema as it was. The DDL locks the tables until the commit, which
    suits a database that nothing else is using (as the command requires)."""

    def __init__(self, tables: Sequence[str]) -> None:
        self.tables = list(tables)
        self.indexes: list[str] = []  # CREATE INDEX statements
        self.constraints: list[tuple[str, str, str]] = []  # (table, name, definition)

    def drop(self) -> None:
        if not self.tables:
            return
        with connection.cursor() as cursor:
            cursor.execute(
                """
                SELECT con.conrelid::regclass::text, con.conname, pg_get_constraintdef(con.oid)
                FROM pg_constraint con
                WHERE con.conrelid = ANY(%s::regclass[])
                  AND (con.contype = 'f' OR (con.contype = 'u' AND NOT EXISTS (
                      SELECT 1 FROM pg_constraint fk WHERE fk.contype = 'f' AND fk.conindid = con.conindid)))
                ORDER BY con.contype DESC, con.conname
                """,
                [self.tables],
            )
            self.constraints = [(table, name, definition) for table, name, definition in cursor.fetchall()]
            cursor.execute(
                """
                SELECT ix.indexrelid::regclass::text, pg_get_indexdef(ix.indexrelid)
                FROM pg_index ix
                WHERE ix.indrelid = ANY(%s::regclass[]) AND NOT ix.indisprimary
                  AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid)
                ORDER BY 1
                """,
                [self.tables],
            )
            indexes = cursor.fetchall()
            self.indexes = [definition for _, definition in indexes]
            for table, name, _ in self.constraints:
                cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {connection.ops.quote_name(name)}")
            for name, _ in indexes:
                cursor.execute(f"DROP INDEX {name}")

    def rebuild(self) -> None:
        if not self.tables:
            return
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for definition in self.indexes:
                cursor.execute(definition)
            for table, name, definition in self.constraints:
                cursor.execute(f"ALTER TABLE {table} ADD CONSTRAINT {connection.ops.quote_name(name)} {definition}")


def _tables_to_defer(models: Sequence[type[Model]], *, patients: int) -> list[str]:
    """The tables whose indexes are built after the load rather than during it: all of them, on PostgreSQL, when
    the run adds more patients than the database holds (a fresh or small database); none otherwise, where
    rebuilding a large table's indexes would cost more than filing the new rows."""
    from careportal.patients.models import Patient

    if connection.vendor != "postgresql" or Patient.objects.count() >= patients:
        return []
    return [model._meta.db_table for model in models]


def _next_id(model: type[Model]) -> int:
    top = model._default_manager.order_by("-pk").values_list("pk", flat=True).first()
    return int(top or 0) + 1


def _move_sequences(models: Iterable[type[Model]]) -> None:
    """After explicit ids, move PostgreSQL's identity sequences past them (SQLite follows the highest id itself)."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in models:
            table = model._meta.db_table
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT COALESCE(max(id), 1) FROM {table}))",  # noqa: S608  # nosec B608
                [table],
            )


# NHS numbers -----------------------------------------------------------------------------------------------------


def nhs_check_digit(nine: str) -> int | None:
    """The modulus 11 check digit of nine digits, or None when there is none (the remainder gives 10)."""
    total = sum(int(digit) * weight for digit, weight in zip(nine, range(10, 1, -1), strict=True))
    check = 11 - total % 11
    if check == 11:
        return 0
    return None if check == 10 else check


def nhs_numbers_from_test_range(*, seed: int, taken: Iterable[str] = ()) -> Callable[[], str | None]:
    """Valid NHS numbers from the 999 test range, each once, in an order fixed by `seed`, skipping `taken`; then
    None when the range is used up (a trust's records include patients without an NHS number)."""
    skip = set(taken)
    offset = random.Random(seed).randrange(NHS_TEST_PREFIX_COUNT)  # noqa: S311 - not for security  # nosec B311
    state = {"k": 0}

    def next_number() -> str | None:
        while state["k"] < NHS_TEST_PREFIX_COUNT:
            k = state["k"]
            state["k"] += 1
            nine = str(NHS_TEST_PREFIX_START + (offset + k * _NHS_STRIDE) % NHS_TEST_PREFIX_COUNT)
            check = nhs_check_digit(nine)
            if check is None:
                continue
            number = f"{nine}{check}"
            if number not in skip:
                return number
        return None

    return next_number


# Guards ----------------------------------------------------------------------------------------------------------


def synthetic_patient_count() -> int:
    from careportal.patients.models import Patient

    return Patient.objects.filter(hospital_number__startswith=HOSPITAL_NUMBER_PREFIX).count()


def real_patient_count() -> int:
    """Patients that are neither synthetic nor the demo trust's (careportal/demo/data.py)."""
    from careportal.demo import data
    from careportal.patients.models import Patient

    demo_numbers = [p["hospital_number"] for p in data.PATIENTS]
    return (
        Patient.objects.exclude(hospital_number__startswith=HOSPITAL_NUMBER_PREFIX)
        .exclude(hospital_number__in=demo_numbers)
        .count()
    )


def generate_check(*, not_production: bool, force: bool) -> None:
    """Refuse a database that must not be filled. Raises GenerateRefused with the reason and the way out."""
    if getattr(settings, "IS_PRODUCTION", False):
        raise GenerateRefused(
            "This is a production configuration (CAREPORTAL_ENV=production): synthetic patients are never added to it."
        )
    if not settings.DEBUG and not not_production:
        raise GenerateRefused(
            "DEBUG is off, so this may be a live server. If this database is only for testing, run again with "
            "--i-know-this-is-not-production."
        )
    existing = synthetic_patient_count()
    if existing:
        raise GenerateRefused(
            f"This database already holds {existing:,} synthetic patients from an earlier run; nothing was added. "
            "Generate into a fresh database (create it, then `manage.py migrate`)."
        )
    real = real_patient_count()
    if real and not force:
        raise GenerateRefused(
            f"This database holds {real:,} patients that are not synthetic or demo patients: it may be a real "
            "trust's. Use a fresh database, or run again with --force if you are sure it is a test database."
        )


# The generator ---------------------------------------------------------------------------------------------------


@dataclass
class _Ids:
    """The next id of each table, given here so that child rows can point at parents before they are written."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, name: str) -> int:
        value = self.next[name]
        self.next[name] = value + 1
        return value


@dataclass
class _Batch:
    users: list[tuple] = field(default_factory=list)
    emails: list[tuple] = field(default_factory=list)
    patients: list[tuple] = field(default_factory=list)
    relationships: list[tuple] = field(default_factory=list)
    reports: list[tuple] = field(default_factory=list)
    observations: list[tuple] = field(default_factory=list)
    appointments: list[tuple] = field(default_factory=list)
    letters: list[tuple] = field(default_factory=list)
    threads: list[tuple] = field(default_factory=list)
    messages: list[tuple] = field(default_factory=list)
    proxies: list[tuple] = field(default_factory=list)
    proxy_events: list[tuple] = field(default_factory=list)
    access_events: list[tuple] = field(default_factory=list)
    letter_files: list[str] = field(default_factory=list)


USER_FIELDS = [
    "id",
    "password",
    "is_superuser",
    "username",
    "first_name",
    "last_name",
    "email",
    "is_staff",
    "is_active",
    "date_joined",
    "public_id",
    "display_name",
    "is_helpdesk",
    "two_step_method",
    "recovery_questions_round",
]
EMAIL_FIELDS = ["id", "user", "email", "verified", "primary"]
PATIENT_FIELDS = [
    "id",
    "public_id",
    "user",
    "hospital_number",
    "nhs_number",
    "given_name",
    "family_name",
    "birth_date",
    "address_line_1",
    "address_line_2",
    "town",
    "postcode",
    "email",
    "mobile_phone",
    "home_phone",
    "contact_preference",
    "notify_by_email",
    "notify_by_sms",
    "created_at",
    "updated_at",
]
RELATIONSHIP_FIELDS = ["patient", "care_team", "reason", "started_at"]
REPORT_FIELDS = [
    "id",
    "public_id",
    "patient",
    "care_team",
    "source_system",
    "placer_order_number",
    "filler_order_number",
    "test_code",
    "test_name",
    "test_coding_system",
    "category",
    "specimen",
    "collected_at",
    "specimen_received_at",
    "reported_at",
    "ordering_clinician",
    "ordering_clinician_code",
    "status",
    "lab_comment",
    "version",
    "is_amended",
    "is_abnormal",
    "is_critical",
    "result_kind",
    "sensitive_category",
    "arrived_at",
    "updated_at",
    "release_mode",
    "release_rule_description",
    "release_due_at",
    "released_at",
    "release_notified_at",
    "reviewed_at",
    "held_at",
    "hold_reason",
    "retraction_reason",
    "clinician_comment",
]
OBSERVATION_FIELDS = [
    "report",
    "sequence",
    "code",
    "name",
    "coding_system",
    "value_type",
    "value_text",
    "value_numeric",
    "value_comparator",
    "value_code",
    "value_code_system",
    "unit",
    "reference_range",
    "reference_low",
    "reference_high",
    "interpretation",
    "status",
    "observed_at",
    "comment",
    "attachment",
    "attachment_content_type",
]
APPOINTMENT_FIELDS = [
    "public_id",
    "patient",
    "care_team",
    "clinic",
    "sensitive_category",
    "source_system",
    "external_id",
    "status",
    "kind",
    "start",
    "end",
    "service_name",
    "location_name",
    "site_code",
    "clinician_name",
    "cancellation_reason",
    "booked_at",
    "last_message_at",
    "last_event",
    "sequence",
    "created_at",
    "updated_at",
    "video_provider",
    "video_external_id",
    "video_join_url",
    "video_meeting_status",
    "video_meeting_error",
    "video_meeting_attempts",
]
LETTER_FIELDS = [
    "public_id",
    "patient",
    "care_team",
    "sensitive_category",
    "source",
    "source_system",
    "document_id",
    "version",
    "document_type",
    "document_type_code",
    "author",
    "letter_date",
    "version_at",
    "status",
    "stored_name",
    "size",
    "sha256",
    "received_sha256",
    "page_count",
    "active_content_removed",
    "delivery",
    "arrived_at",
    "updated_at",
    "patient_notified_at",
    "print_listed_on",
    "printed_at",
]
THREAD_FIELDS = [
    "id",
    "public_id",
    "patient",
    "care_team",
    "topic",
    "subject",
    "status",
    "started_by_staff",
    "created_at",
    "last_patient_message_at",
    "last_team_message_at",
    "reply_due_on",
    "closed_at",
    "sensitive_category",
]
MESSAGE_FIELDS = [
    "public_id",
    "thread",
    "author",
    "author_role",
    "author_display",
    "body",
    "is_internal_note",
    "created_at",
]
PROXY_FIELDS = [
    "id",
    "public_id",
    "proxy",
    "patient",
    "relationship",
    "basis",
    "origin",
    "scopes",
    "sensitive_categories_granted",
    "status",
    "valid_from",
    "valid_until",
    "applicant_note",
    "identity_evidence",
    "relationship_evidence",
    "evidence_note",
    "consent_note",
    "decision_reason",
    "verified_at",
    "created_at",
]
PROXY_EVENT_FIELDS = ["relationship", "occurred_at", "kind", "actor_name", "scopes_before", "scopes_after", "note"]
ACCESS_EVENT_FIELDS = [
    "occurred_at",
    "actor_name",
    "actor_role",
    "care_team",
    "patient",
    "action",
    "object_label",
    "object_type",
    "object_id",
    "succeeded",
    "request_id",
    "app_name",
]


@dataclass(frozen=True)
class _Team:
    pk: int
    name: str
    sensitive: str
    clinic_pk: int
    clinic_name: str


class _Generator:
    def __init__(self, *, seed: int, observations_per_patient: float, now: datetime.datetime) -> None:
        from careportal.core.working_days import bank_holidays
        from careportal.results.release_rules import release_rule_for

        self.rng = random.Random(seed)  # noqa: S311 - synthetic data, not security  # nosec B311
        self.now = now.astimezone(datetime.UTC).replace(tzinfo=None, microsecond=0)  # naive UTC, as stored
        self.today = self.now.date()
        self.postgresql = connection.vendor == "postgresql"
        self.password_hash = make_password(SYNTHETIC_PASSWORD)
        self.teams = self._teams()
        self.rules = {panel.code: release_rule_for(test_code=panel.code, category=panel.category) for panel in PANELS}
        self.due_cache: dict[tuple[int, datetime.date], datetime.datetime] = {}
        self.trust_zone = timezone.get_default_timezone()
        # The trust's non-working weekdays (bank holidays and its own changes), asked once per day of the history
        # rather than once per report.
        first = self.today - datetime.timedelta(days=366 * (YEARS_OF_HISTORY + 1))
        calendar = bank_holidays(on_or_after=first)
        days = (first + datetime.timedelta(days=n) for n in range(366 * (YEARS_OF_HISTORY + 2)))
        self.holidays = frozenset(day for day in days if day.weekday() < 5 and day in calendar)
        self.panel_weights = [panel.weight for panel in PANELS]
        mean_size = sum(p.weight * len(p.analytes) for p in PANELS) / sum(self.panel_weights)
        self.mean_reports = max(observations_per_patient, 0) / mean_size
        self.history_days = 365 * YEARS_OF_HISTORY

    # Set-up through the ORM: a few rows, idempotent -----------------------------------------------------------

    def _teams(self) -> dict[str, _Team]:
        from careportal.appointments.models import Clinic
        from careportal.patients.models import CareTeam

        teams = {}
        for name, days, sensitive in CARE_TEAMS:
            team, _ = CareTeam.objects.get_or_create(
                name=name, defaults={"response_target_working_days": days, "sensitive_category": sensitive}
            )
            code = "SYN-" + "".join(word[:4].upper() for word in name.split())
            clinic, _ = Clinic.objects.get_or_create(
                code=code,
                defaults={
                    "name": f"{name} outpatients",
                    "care_team": team,
                    "site_name": "Royal Riverside Hospital",
                    "site_address": "Riverside Road\nLondon\nN1 9GU",
                },
            )
            teams[name] = _Team(team.pk, name, team.sensitive_category, clinic.pk, clinic.display_name)
        return teams

    # Small helpers ------------------------------------------------------------------------------------------------

    def uuid(self) -> str:
        # Hex without dashes: what both PostgreSQL's uuid and Django's SQLite char(32) accept.
        return uuid.UUID(int=self.rng.getrandbits(128), version=4).hex

    def hex64(self) -> str:
        return f"{self.rng.getrandbits(256):064x}"

    def moment(self, days_ago: float) -> datetime.datetime:
        return self.now - datetime.timedelta(days=days_ago)

    def working_morning(self, days_ago: float) -> datetime.datetime:
        """A time in a weekday's clinic hours, about `days_ago` days ago."""
        day = (self.now - datetime.timedelta(days=days_ago)).date()
        while day.weekday() >= 5:
            day -= datetime.timedelta(days=1)
        minutes = self.rng.randrange(8 * 60, 16 * 60)
        return datetime.datetime.combine(day, datetime.time(minutes // 60, minutes % 60))

    def due_at(self, panel: Panel, final_at: datetime.datetime) -> datetime.datetime | None:
        """When the trust's release rule for this test releases a report final at `final_at` (naive UTC): the same
        answer as `release_due_at_for`, with the bank holidays read once rather than once per report."""
        from careportal.core.working_days import add_working_days
        from careportal.results.release_rules import RELEASE_TIME_OF_DAY

        rule = self.rules[panel.code]
        if rule is None or rule.mode == "after_review":
            return None
        if rule.working_days == 0:
            return final_at
        final_day = final_at.replace(tzinfo=datetime.UTC).astimezone(self.trust_zone).date()
        key = (rule.working_days, final_day)
        if key not in self.due_cache:
            due_day = add_working_days(final_day, rule.working_days, holidays=self.holidays)
            due = datetime.datetime.combine(due_day, RELEASE_TIME_OF_DAY, tzinfo=self.trust_zone)
            self.due_cache[key] = due.astimezone(datetime.UTC).replace(tzinfo=None)
        return self.due_cache[key]

    # One patient ---------------------------------------------------------------------------------------------

    def patient(self, batch: _Batch, ids: _Ids, index: int, nhs_number: str | None) -> None:
        rng = self.rng
        female = rng.random() < 0.51
        given = rng.choice(GIVEN_NAMES_FEMALE if female else GIVEN_NAMES_MALE)
        family = rng.choice(FAMILY_NAMES)
        band = rng.random()
        age = (
            rng.randrange(0, 16)
            if band < 0.18
            else rng.randrange(16, 18)
            if band < 0.20
            else rng.randrange(18, 40)
            if band < 0.48
            else rng.randrange(40, 65)
            if band < 0.78
            else rng.randrange(65, 100)
        )
        birth = self.today - datetime.timedelta(days=age * 365 + rng.randrange(365))
        town, area, districts = rng.choice(TOWNS)
        postcode = (
            f"{area}{rng.randrange(1, districts + 1)} {rng.randrange(1, 10)}"
            f"{rng.choice(POSTCODE_INWARD_LETTERS)}{rng.choice(POSTCODE_INWARD_LETTERS)}"
        )
        hospital_number = f"{HOSPITAL_NUMBER_PREFIX}{index:07d}"
        email = f"{given.lower()}.{family.lower().replace(chr(39), '')}.{index}@example.org"
        has_account = age >= 16 and rng.random() < ACCOUNT_SHARE
        created = self.moment(rng.uniform(30, self.history_days + 365))
        user_id = None
        if has_account:
            user_id = ids.take("user")
            joined = self.moment(rng.uniform(1, 900))
            batch.users.append(
                (
                    *(user_id, self.password_hash, False, f"syn.{hospital_number.lower()}", given, family, email),
                    *(False, True, joined, self.uuid(), "", False, "none", 0),
                )
            )
            batch.emails.append((ids.take("email"), user_id, email, True, True))
        patient_id = ids.take("patient")
        batch.patients.append(
            (
                *(patient_id, self.uuid(), user_id, hospital_number, nhs_number, given, family, birth),
                *(f"{rng.randrange(1, 200)} {rng.choice(STREETS)}", "", town, postcode),
                *(email if has_account or rng.random() < 0.3 else "", f"07700 900{rng.randrange(1000):03d}"),
                *("" if rng.random() < 0.6 else f"020 7946 0{rng.randrange(1000):03d}",),
                *("portal" if has_account else "post", True, has_account and rng.random() < 0.4, created, created),
            )
        )
        conditions = set()
        if age >= 30 and rng.random() < 0.10:
            conditions.add("diabetes")
        if age >= 50 and rng.random() < 0.08:
            conditions.add("ckd")
        if rng.random() < 0.07:
            conditions.add("anaemia")
        # Each patient keeps their own level of each test from one report to the next (a trend, not noise).
        personal = rng.gauss(0, 0.6)
        teams_seen: set[str] = set()
        self.reports(batch, ids, patient_id, female, age, conditions, personal, teams_seen)
        self.appointments(batch, ids, patient_id, teams_seen, age)
        if has_account and rng.random() < MESSAGING_SHARE:
            self.thread(batch, ids, patient_id, user_id, f"{given} {family}", teams_seen)
        self.proxy(batch, ids, patient_id, age, family, index)
        self.access_events(batch, patient_id, teams_seen)
        for team_name in sorted(teams_seen):
            batch.relationships.append((patient_id, self.teams[team_name].pk, "result", created))

    def reports(
        self,
        batch: _Batch,
        ids: _Ids,
        patient_id: int,
        female: bool,
        age: int,
        conditions: set[str],
        personal: float,
        teams_seen: set[str],
    ) -> None:
        rng = self.rng
        mean = self.mean_reports * (2.5 if conditions else 0.8) * (0.3 if age < 16 else 1.0)
        count = int(rng.expovariate(1 / mean) + 0.5) if mean > 0 else 0
        panels = rng.choices(PANELS, weights=self.panel_weights, k=count)
        for panel in panels:
            if "diabetes" in conditions and panel.code in {"LIPID", "CRP", "TFT"} and rng.random() < 0.5:
                panel = PANELS[4]  # HbA1c, every few months for a diabetic patient
            report_id = ids.take("report")
            collected = self.working_morning(rng.uniform(0, self.history_days))
            if panel.value_type == "TX":
                reported = collected + datetime.timedelta(days=rng.uniform(1, 12 if panel.category == "SP" else 4))
            else:
                reported = collected + datetime.timedelta(hours=rng.uniform(2, 10))
            if reported > self.now:
                reported = self.now - datetime.timedelta(minutes=rng.randrange(1, 120))
                collected = min(collected, reported - datetime.timedelta(hours=1))
            abnormal = critical = False
            for sequence, analyte in enumerate(panel.analytes, start=1):
                flag = self.observation(
                    batch, report_id, sequence, analyte, panel, collected, female, conditions, personal
                )
                abnormal = abnormal or flag in {"L", "H", "LL", "HH"}
                critical = critical or flag in {"LL", "HH"}
            rule = self.rules[panel.code]
            due = self.due_at(panel, reported)
            released = held = reviewed = None
            hold_reason = ""
            if rule is not None and rule.mode == "after_review":
                if reported < self.now - datetime.timedelta(days=14):
                    reviewed = reported + datetime.timedelta(days=rng.uniform(1, 7))
                    released = reviewed + datetime.timedelta(hours=1)
            elif due is not None and due <= self.now:
                if rng.random() < HELD_SHARE:
                    held = reported + datetime.timedelta(hours=2)
                    hold_reason = "To be discussed with the patient at their next appointment."
                else:
                    released = due
            team = self.teams[panel.team]
            teams_seen.add(panel.team)
            clinician = rng.choice(CLINICIANS)
            batch.reports.append(
                (
                    *(report_id, self.uuid(), patient_id, team.pk, SOURCE_SYSTEM_LAB, f"OE-S{report_id}"),
                    *(f"S{report_id}", panel.code, panel.name, "WINPATH", panel.category, panel.specimen),
                    *(collected, collected + datetime.timedelta(minutes=45), reported, clinician, ""),
                    *("final", "", 1, False, abnormal, critical, rule.result_kind if rule else "lab"),
                    *(rule.sensitive_category if rule else "", reported, reported),
                    *(rule.mode if rule else "after_review", rule.description if rule else "", due, released),
                    *(released, reviewed, held, hold_reason, "", ""),
                )
            )

    def observation(
        self,
        batch: _Batch,
        report_id: int,
        sequence: int,
        analyte: Analyte,
        panel: Panel,
        collected: datetime.datetime,
        female: bool,
        conditions: set[str],
        personal: float,
    ) -> str:
        rng = self.rng
        if panel.value_type == "TX":
            text = rng.choice(IMAGING_TEXT if panel.category == "RAD" else HISTOLOGY_TEXT)
            batch.observations.append(
                (
                    report_id,
                    sequence,
                    analyte.code,
                    analyte.name,
                    "LN",
                    "TX",
                    text,
                    None,
                    "",
                    "",
                    "",
                    "",
                    "",
                    None,
                    None,
                    "",
                    "F",
                    collected,
                    "",
                    "",
                    "",
                )
            )
            return ""
        low, high, mean = analyte.low, analyte.high, analyte.mean
        if female and analyte.female:
            low, high, mean = analyte.female
        shift = analyte.shift if analyte.condition in conditions else 0.0
        value = mean + analyte.spread * (personal + shift + rng.gauss(0, 0.8))
        value = max(value, 0.0 if analyte.decimals else 1.0)
        value = round(value, analyte.decimals)
        flag = "N"
        if analyte.critical_low is not None and value < analyte.critical_low:
            flag = "LL"
        elif analyte.critical_high is not None and value > analyte.critical_high:
            flag = "HH"
        elif low is not None and value < low:
            flag = "L"
        elif high is not None and value > high:
            flag = "H"
        text = f"{value:.{analyte.decimals}f}"
        if low is not None and high is not None:
            reference = f"{low:g}-{high:g}"
        elif low is not None:
            reference = f">{low:g}"
        else:
            reference = f"<{high:g}"
        batch.observations.append(
            (
                report_id,
                sequence,
                analyte.code,
                analyte.name,
                "LN",
                "NM",
                text,
                value,
                "",
                "",
                "",
                analyte.unit,
                reference,
                low,
                high,
                flag,
                "F",
                collected,
                "",
                "",
                "",
            )
        )
        return flag

    def appointments(self, batch: _Batch, ids: _Ids, patient_id: int, teams_seen: set[str], age: int) -> list[Any]:
        rng = self.rng
        team_names = sorted(teams_seen) or ["Paediatrics" if age < 16 else "General Medicine"]
        if age < 16:
            team_names = ["Paediatrics"]
        elif rng.random() < 0.02:
            team_names.append("Sexual Health")
        count = int(rng.expovariate(1 / 3) + 0.5)
        for n in range(count):
            team = self.teams[rng.choice(team_names)]
            appointment_id = ids.take("appointment")
            if n == 0 and rng.random() < 0.35:
                start = self.now + datetime.timedelta(days=rng.uniform(1, 120))  # a future booking
            else:
                start = self.now - datetime.timedelta(days=rng.uniform(1, self.history_days))
            start = start.replace(minute=(start.minute // 15) * 15, second=0)
            start = start.replace(hour=9 + start.hour % 8)
            booked = start - datetime.timedelta(days=rng.uniform(7, 90))
            roll = rng.random()
            if start > self.now:
                status = "cancelled" if roll < 0.05 else "booked"
            else:
                status = "cancelled" if roll < 0.08 else "noshow" if roll < 0.13 else "booked"
            kind = "telephone" if rng.random() < 0.2 else "in_person"
            batch.appointments.append(
                (
                    *(self.uuid(), patient_id, team.pk, team.clinic_pk, team.sensitive, SOURCE_SYSTEM_PAS),
                    *(f"SYN-{appointment_id}", status, kind, start, start + datetime.timedelta(minutes=20)),
                    *(team.clinic_name, f"Clinic room {rng.randrange(1, 12)}", "RRV", rng.choice(CLINICIANS)),
                    *("Clinic cancelled" if status == "cancelled" else "", booked, booked, "S12", 0, booked, booked),
                    *("", "", "", "", "", 0),
                )
            )
            if start < self.now and status == "booked" and rng.random() < 0.6:
                self.letter(batch, ids, patient_id, team, start)
        return []

    def letter(self, batch: _Batch, ids: _Ids, patient_id: int, team: _Team, seen_at: datetime.datetime) -> None:
        rng = self.rng
        letter_id = ids.take("letter")
        written = seen_at + datetime.timedelta(days=rng.uniform(1, 10))
        if written > self.now:
            written = self.now - datetime.timedelta(hours=1)
        post = rng.random() < 0.4
        printed = (
            written + datetime.timedelta(days=1) if post and written < self.now - datetime.timedelta(days=3) else None
        )
        stored_name = self.uuid()
        batch.letter_files.append(stored_name)
        batch.letters.append(
            (
                *(self.uuid(), patient_id, team.pk, team.sensitive, "hl7", SOURCE_SYSTEM_EDM, f"SYN-DOC-{letter_id}"),
                *(1, "Clinic letter", "CL", rng.choice(CLINICIANS), written, written, "current", stored_name),
                *(len(LETTER_PDF), LETTER_PDF_SHA256, LETTER_PDF_SHA256, 1, False),
                *("post" if post else "portal", written, written, None if post else written),
                *(printed.date() if printed else None, printed),
            )
        )

    def thread(
        self, batch: _Batch, ids: _Ids, patient_id: int, user_id: int | None, name: str, teams_seen: set[str]
    ) -> None:
        rng = self.rng
        team = self.teams[rng.choice(sorted(teams_seen) or ["General Medicine"])]
        thread_id = ids.take("thread")
        topic, subject = rng.choice(THREAD_SUBJECTS)
        started = self.now - datetime.timedelta(days=rng.uniform(0.5, 700))
        moment = started
        last_patient = last_team = None
        for n in range(rng.randrange(1, 5)):
            from_patient = n % 2 == 0
            if from_patient:
                author, role, display = user_id, "patient", name
                body = rng.choice(PATIENT_LINES)
                last_patient = moment
            else:
                author, role, display = None, "staff", f"{rng.choice(CLINICIANS)}, {team.name}"
                body = rng.choice(TEAM_LINES)
                last_team = moment
            batch.messages.append((self.uuid(), thread_id, author, role, display, body, False, moment))
            moment = moment + datetime.timedelta(hours=rng.uniform(2, 70))
            if moment > self.now:
                moment = self.now
        answered = last_team is not None and last_patient is not None and last_team > last_patient
        done = answered and started < self.now - datetime.timedelta(days=30)
        due = None if answered else (last_patient or started).date() + datetime.timedelta(days=4)
        batch.threads.append(
            (
                *(thread_id, self.uuid(), patient_id, team.pk, topic, subject),
                *("done" if done else "waiting_on_patient" if answered else "new", False, started),
                *(last_patient, last_team, due, last_team if done else None, team.sensitive),
            )
        )

    def proxy(self, batch: _Batch, ids: _Ids, patient_id: int, age: int, family: str, index: int) -> None:
        rng = self.rng
        if age < 16 and rng.random() < 0.5:
            relationship, basis, scopes = (
                rng.choice(("mother", "father")),
                "parental",
                ["appointments", "results", "messages", "letters", "details"],
            )
        elif age >= 75 and rng.random() < 0.15:
            relationship, basis, scopes = (
                rng.choice(("daughter", "son", "carer")),
                "granted",
                ["appointments", "letters"],
            )
        else:
            return
        user_id = ids.take("user")
        given = rng.choice(GIVEN_NAMES_FEMALE if relationship in {"mother", "daughter"} else GIVEN_NAMES_MALE)
        email = f"{given.lower()}.proxy.{index}@example.org"
        joined = self.moment(rng.uniform(30, 700))
        batch.users.append(
            (
                *(user_id, self.password_hash, False, f"syn.proxy.{index}", given, family, email, False, True),
                *(joined, self.uuid(), "", False, "none", 0),
            )
        )
        batch.emails.append((ids.take("email"), user_id, email, True, True))
        relationship_id = ids.take("proxy")
        batch.proxies.append(
            (
                *(relationship_id, self.uuid(), user_id, patient_id, relationship, basis, "staff"),
                *(json.dumps(scopes), "[]", "active", joined.date(), None, "", "passport"),
                *("birth_certificate" if basis == "parental" else "patient_consent", "", "", "", joined, joined),
            )
        )
        batch.proxy_events.append((relationship_id, joined, "set_up", "Helpdesk", "[]", json.dumps(scopes), ""))

    def access_events(self, batch: _Batch, patient_id: int, teams_seen: set[str]) -> None:
        rng = self.rng
        for _ in range(int(rng.expovariate(1 / 2) + 0.5)):
            team = self.teams[rng.choice(sorted(teams_seen) or ["General Medicine"])]
            label = rng.choice(("your test results", "your letters", "your appointments", "your contact details"))
            batch.access_events.append(
                (
                    self.moment(rng.uniform(0, 700)),
                    rng.choice(CLINICIANS),
                    "clinician",
                    team.pk,
                    patient_id,
                    "view",
                    label,
                    "",
                    "",
                    True,
                    "",
                    "",
                )
            )


def _write_plan() -> list[tuple[type[Model], Sequence[str], str]]:
    """Each table written, in an order that puts every row after the rows it refers to: its model, the fields of
    its rows, and the `_Batch` list that holds them."""
    from allauth.account.models import EmailAddress

    from careportal.accounts.models import User
    from careportal.appointments.models import Appointment
    from careportal.audit.models import AccessEvent
    from careportal.letters.models import Letter
    from careportal.messaging.models import Message, Thread
    from careportal.patients.models import CareRelationship, Patient
    from careportal.proxy.models import ProxyRelationship, ProxyRelationshipEvent
    from careportal.results.models import DiagnosticReport, Observation

    return [
        (User, USER_FIELDS, "users"),
        (EmailAddress, EMAIL_FIELDS, "emails"),
        (Patient, PATIENT_FIELDS, "patients"),
        (CareRelationship, RELATIONSHIP_FIELDS, "relationships"),
        (DiagnosticReport, REPORT_FIELDS, "reports"),
        (Observation, OBSERVATION_FIELDS, "observations"),
        (Appointment, APPOINTMENT_FIELDS, "appointments"),
        (Letter, LETTER_FIELDS, "letters"),
        (Thread, THREAD_FIELDS, "threads"),
        (Message, MESSAGE_FIELDS, "messages"),
        (ProxyRelationship, PROXY_FIELDS, "proxies"),
        (ProxyRelationshipEvent, PROXY_EVENT_FIELDS, "proxy_events"),
        (AccessEvent, ACCESS_EVENT_FIELDS, "access_events"),
    ]


def _write_batch(writer: _Writer, batch: _Batch, *, letter_files: bool) -> int:
    plan = [(model, fields, getattr(batch, rows)) for model, fields, rows in _write_plan()]
    rows = 0
    for model, fields, batch_rows in plan:
        writer.write(model, fields, batch_rows)
        rows += len(batch_rows)
    if letter_files:
        from careportal.letters.storage import letter_file_stage

        # In this (the writing) thread, whose transaction is the rows': each file is placed when they commit.
        for stored_name in batch.letter_files:
            letter_file_stage(stored_name=stored_name, data=LETTER_PDF)
    return rows


def _overlapped(items: Iterator[tuple[_Batch, int]], *, overlap: bool) -> Iterator[tuple[_Batch, int]]:
    """The batches, made one ahead in a second thread when `overlap`: PostgreSQL's server process then files one
    batch (the COPY, its indexes) while Python makes the next, so both cores work. SQLite works in this process,
    so there is nothing to overlap."""
    if not overlap:
        yield from items
        return
    ready: queue.Queue[tuple[_Batch, int] | BaseException | None] = queue.Queue(maxsize=1)

    def make() -> None:
        try:
            for item in items:
                ready.put(item)
        except BaseException as error:  # handed to the writing thread, which raises it
            ready.put(error)
            return
        ready.put(None)

    maker = threading.Thread(target=make, name="generate-trust", daemon=True)
    maker.start()
    while True:
        item = ready.get()
        if item is None:
            break
        if isinstance(item, BaseException):
            raise item
        yield item
    maker.join()


@dataclass(frozen=True)
class GenerateResult:
    patients: int
    rows: dict[str, int]
    without_nhs_number: int

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def trust_generate(
    *,
    patients: int,
    seed: int = 1,
    observations_per_patient: float = 20,
    batch_size: int = 5000,
    now: datetime.datetime | None = None,
    progress: Callable[[int], None] | None = None,
    letter_files: bool = False,
) -> GenerateResult:
    """Add `patients` synthetic patients with their records, in one transaction. Call `generate_check` first.

    `progress` is called with the number of patients written after each batch. `letter_files` writes each
    letter's PDF (one small file per letter, placed on commit); without it a synthetic letter's page works but its
    PDF cannot be opened, which is fine for load tests of lists and searches and saves a file per letter.
    """
    from allauth.account.models import EmailAddress

    from careportal.accounts.models import User
    from careportal.messaging.models import Thread
    from careportal.patients.models import Patient
    from careportal.proxy.models import ProxyRelationship
    from careportal.results.models import DiagnosticReport

    if patients < 1:
        raise ValueError("patients must be at least 1")
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    if observations_per_patient < 0:
        raise ValueError("observations_per_patient must not be negative")
    # Outside any caller's transaction the tables are vacuumed after the commit; inside one, only analysed.
    vacuum = connection.vendor == "postgresql" and not connection.in_atomic_block
    with transaction.atomic():
        generator = _Generator(seed=seed, observations_per_patient=observations_per_patient, now=now or timezone.now())
        taken = Patient.objects.filter(nhs_number__isnull=False).values_list("nhs_number", flat=True)
        next_nhs_number = nhs_numbers_from_test_range(seed=seed, taken=list(taken))
        ids = _Ids(
            {
                "user": _next_id(User),
                "email": _next_id(EmailAddress),
                "patient": _next_id(Patient),
                "report": _next_id(DiagnosticReport),
                "appointment": 0,
                "letter": 0,
                "thread": _next_id(Thread),
                "proxy": _next_id(ProxyRelationship),
            }
        )
        writer = _Writer()
        deferred = _DeferredIndexes(_tables_to_defer([model for model, _, _ in _write_plan()], patients=patients))
        if writer.postgresql:
            with connection.cursor() as cursor:
                # Nothing here needs to survive a crash until the commit.
                cursor.execute("SET LOCAL synchronous_commit = off")
                # Check each batch's foreign keys as it is copied, while the next batch is being made, rather than
                # all of them at the commit (Django's are deferred), which would run alone after everything else.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            deferred.drop()
        without_nhs_number = 0

        def batches() -> Iterator[tuple[_Batch, int]]:
            nonlocal without_nhs_number
            for start in range(0, patients, batch_size):
                batch = _Batch()
                end = min(start + batch_size, patients)
                for index in range(start + 1, end + 1):
                    number = next_nhs_number()
                    without_nhs_number += number is None
                    generator.patient(batch, ids, index, number)
                yield batch, end - start

        for batch, size in _overlapped(batches(), overlap=writer.postgresql):
            _write_batch(writer, batch, letter_files=letter_files)
            if progress is not None:
                progress(size)
        deferred.rebuild()
        _move_sequences([User, EmailAddress, Patient, DiagnosticReport, Thread, ProxyRelationship])
        if writer.postgresql and not vacuum:
            # Fresh statistics, so that the first queries plan with the new sizes rather than an empty table's.
            with connection.cursor() as cursor:
                for table in writer.written:
                    cursor.execute(f"ANALYZE {table}")
    if vacuum:
        # After the commit (VACUUM cannot run inside a transaction): statistics, and the visibility map and hint bits
        # a live table has, so that index-only scans skip the heap and the first reads do not pay for the load.
        with connection.cursor() as cursor:
            for table in writer.written:
                cursor.execute(f"VACUUM (ANALYZE) {table}")
    return GenerateResult(patients=patients, rows=dict(writer.written), without_nhs_number=without_nhs_number)
