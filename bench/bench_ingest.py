"""HL7 ingestion without the network: how many ORU^R01 messages per second become released-ready reports, against
the raw parse rate of python-hl7 on the same messages; and a backfill with `manage.py hl7_import`.

On SQLite (a file) and on PostgreSQL (a fresh database, bench/pg_support.py), each in a child process:

- raw `hl7.parse` of the same messages (decoded, segments joined by CR): the library's ceiling;
- CarePortal's parse (careportal/hl7/parsing.py `parse_message`: decode, checks, python-hl7, field trees);
- one by one: `message_receive` for each message (what the MLLP listener does, without the network);
- in batches: `messages_apply_in_batch` (careportal/hl7/bulk_apply.py), 500 at a time;
- backfill: `manage.py hl7_import` of BENCH_INGEST_BACKFILL messages (default 1,000,000) in files of 50,000, on
  PostgreSQL; SQLite, the small trust's database, backfills BENCH_INGEST_SQLITE_BACKFILL (default 100,000, or the
  PostgreSQL figure if smaller).

The messages: 9 in 10 are final reports for new orders, 1 in 10 corrects the report sent 705 messages before
(applied in the batch too, as a later version of a stored report); 5 values each, one patient per 5 reports. Set
BENCH_INGEST_MESSAGES (default 20,000) and BENCH_INGEST_BACKFILL for a quicker run, and BENCH_INGEST_DATABASE for
another PostgreSQL database name. Writes bench/results/ingest.md and ingest.json.
"""

import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from bench.pg_support import machine, run_child_on_fresh_database, server_url, server_version  # noqa: E402
from bench.summary import Row, Target  # noqa: E402

RESULTS_DIR = BENCH_DIR / "results"
# BENCH_INGEST_DATABASE: another name, for two runs at once on one server (each drops and creates its own).
DATABASE_NAME = os.environ.get("BENCH_INGEST_DATABASE", "careportal_bench_ingest")
FILE_MESSAGES = 50_000
REPORTS_PER_PATIENT = 5


def message(n: int, *, prefix: str, patients: int) -> bytes:
    """Message n: a final report for order n, or (every tenth) a correction of an earlier order."""
    corrected = n % 10 == 9
    # A correction of a report sent 705 messages before (in an earlier batch, mostly; labs correct hours later).
    order = (n - 705 if n >= 705 else n - 5) if corrected else n
    status = "C" if corrected else "F"
    hospital_number = f"B{(order // REPORTS_PER_PATIENT) % patients:07d}"
    reported = "202611021030" if corrected else "202611021000"
    hb = 120 + n % 30
    segments = [
        f"MSH|^~\\&|WINPATH|RRV_LAB|CAREPORTAL|RRV|{reported}00||ORU^R01|{prefix}{n}|P|2.4|||AL|NE|GBR|UNICODE UTF-8",
        f"PID|1||{hospital_number}^^^RRV^MR||BENCH^PATIENT||19600101|F",
        f"ORC|RE|OE-{prefix}{order}|{prefix}{order}||CM",
        f"OBR|1|OE-{prefix}{order}|{prefix}{order}|FBC^Full blood count^WINPATH|||202611020815|||||||"
        f"202611020840|BLD^Blood|C1234567^OKAFOR^CHIDI^^^DR||||||{reported}||HM|{status}",
        f"OBX|1|NM|HB^Haemoglobin^WINPATH||{hb}|g/L|115-165|N|||{status}",
        f"OBX|2|NM|WBC^White cell count^WINPATH||6.{n % 10}|10*9/L|4.0-11.0|N|||{status}",
        f"OBX|3|NM|PLT^Platelets^WINPATH||{200 + n % 50}|10*9/L|150-400|N|||{status}",
        f"OBX|4|NM|NEUT^Neutrophils^WINPATH||3.{n % 10}|10*9/L|2.0-7.5|N|||{status}",
        f"OBX|5|NM|LYMPH^Lymphocytes^WINPATH||1.{n % 10}|10*9/L|1.0-4.0|N|||{status}",
        "NTE|1|L|Sample checked.",
    ]
    return ("\r".join(segments) + "\r").encode()


# The child process: does the work on the database DATABASE_URL names -------------------------------------------


def _setup(patients: int) -> None:
    from django.core.management import call_command

    from careportal.hl7.models import InboundInterface
    from careportal.patients.models import Patient

    call_command("migrate", verbosity=0)
    InboundInterface.objects.get_or_create(
        sending_application="WINPATH",
        sending_facility="RRV_LAB",
        defaults={
            "name": "Laboratory",
            "message_types": ["ORU^R01"],
            "source_networks": ["127.0.0.1/32"],
            "hospital_number_authority": "RRV",
            "is_active": True,
        },
    )
    for start in range(0, patients, 5000):
        Patient.objects.bulk_create(
            [
                Patient(
                    hospital_number=f"B{n:07d}",
                    given_name="Bench",
                    family_name="Patient",
                    birth_date=datetime.date(1960, 1, 1),
                )
                for n in range(start, min(start + 5000, patients))
            ]
        )


def _rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds else 0.0


def _child(messages: int, backfill: int) -> dict:
    os.environ["DJANGO_SETTINGS_MODULE"] = "careportal.config.settings.base"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    import hl7
    from django.core.management import call_command
    from django.utils import timezone

    from careportal.hl7.bulk_apply import BATCH_SIZE, messages_apply_in_batch
    from careportal.hl7.models import InboundMessage, MessageSource, MessageStatus
    from careportal.hl7.parsing import decode, parse_message
    from careportal.hl7.services import message_receive
    from careportal.results.models import DiagnosticReport

    patients = max((messages * 2 + backfill) // REPORTS_PER_PATIENT, 1)
    _setup(patients)
    rows: list[dict] = []
    batch_raws = [message(n, prefix="BA", patients=patients) for n in range(messages)]

    started = time.perf_counter()
    for raw in batch_raws:
        hl7.parse(decode(raw)[0])
    raw_parse = time.perf_counter() - started
    rows.append({"workload": "python-hl7 hl7.parse (reference)", "messages": messages, "seconds": raw_parse})
    started = time.perf_counter()
    for raw in batch_raws:
        parse_message(raw)
    rows.append(
        {"workload": "CarePortal parse_message", "messages": messages, "seconds": time.perf_counter() - started}
    )

    one_count = min(messages, 5000)
    one_raws = [message(n, prefix="OB", patients=patients) for n in range(one_count)]
    started = time.perf_counter()
    for raw in one_raws:
        message_receive(raw, peer="bench", source=MessageSource.IMPORT)
    rows.append(
        {"workload": "parse-to-visible, one by one", "messages": one_count, "seconds": time.perf_counter() - started}
    )

    started = time.perf_counter()
    bulk = 0
    for start in range(0, messages, BATCH_SIZE):
        chunk = [
            InboundMessage(raw=raw, peer="bench", source=MessageSource.IMPORT, received_at=timezone.now())
            for raw in batch_raws[start : start + BATCH_SIZE]
        ]
        bulk += messages_apply_in_batch(chunk).bulk_applied
    rows.append(
        {
            "workload": f"parse-to-visible, in batches of {BATCH_SIZE}",
            "messages": messages,
            "seconds": time.perf_counter() - started,
        }
    )
    applied = InboundMessage.objects.filter(status=MessageStatus.APPLIED).count()
    expected = one_count + messages
    if applied != expected:
        raise SystemExit(f"only {applied} of {expected} messages applied")

    if backfill:
        with tempfile.TemporaryDirectory() as folder:
            files = []
            for start in range(0, backfill, FILE_MESSAGES):
                path = Path(folder) / f"backfill-{start // FILE_MESSAGES:03d}.hl7"
                with path.open("wb") as out:
                    for n in range(start, min(start + FILE_MESSAGES, backfill)):
                        out.write(message(n, prefix="BF", patients=patients))
                files.append(str(path))
            started = time.perf_counter()
            call_command("hl7_import", *files, no_progress=True, stdout=open(os.devnull, "w"))  # noqa: SIM115
            rows.append(
                {
                    "workload": "backfill: manage.py hl7_import",
                    "messages": backfill,
                    "seconds": time.perf_counter() - started,
                }
            )
    for row in rows:
        row["seconds"] = round(row["seconds"], 2)
        row["per_second"] = _rate(row["messages"], row["seconds"])
        row["ratio_to_raw_parse"] = round(row["per_second"] / _rate(messages, raw_parse), 3)
    return {
        "rows": rows,
        "patients": patients,
        "bulk_applied": bulk,
        "reports": DiagnosticReport.objects.count(),
    }


# The parent process -----------------------------------------------------------------------------------------


def summary(result: dict) -> list[Row]:
    """Rows for `make bench`'s table (bench/summary.py): applying and backfilling, against python-hl7's raw parse
    of the same messages in the same run."""
    rows: list[Row] = []
    for database, measured in result["results"].items():
        raw = next(row for row in measured["rows"] if row["workload"].startswith("python-hl7"))
        for row in measured["rows"]:
            if row is raw:
                continue
            target = None
            if row["workload"].startswith("parse-to-visible, in batches"):
                target = Target("parse-to-visible ≥ 500 messages/s", 500)
            elif row["workload"].startswith("backfill"):
                target = Target("backfill ≥ 500 messages/s", 500)
            rows.append(
                Row(
                    workload=f"HL7 on {database}, no network: {row['workload']}",
                    size=f"{row['messages']:,} ORU messages",
                    figure=f"{row['per_second']:,.0f} messages/s",
                    against=f"{raw['per_second']:,.0f} messages/s (python-hl7 hl7.parse)",
                    ratio=f"{row['ratio_to_raw_parse']:.3f}",
                    target=target,
                    measured=row["per_second"],
                )
            )
    return rows


def _table(results: dict[str, dict]) -> str:
    lines = [
        "| database | workload | messages | seconds | messages/s | of raw hl7.parse |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for database, result in results.items():
        lines += [
            f"| {database} | {r['workload']} | {r['messages']:,} | {r['seconds']:.2f} | {r['per_second']:,.0f} | "
            f"{r['ratio_to_raw_parse']:.3f} |"
            for r in result["rows"]
        ]
    table = "\n".join(lines)
    print(table)
    return table


def _sqlite_child(messages: int, backfill: int) -> dict | int:
    import subprocess

    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{folder}/bench_ingest.sqlite3"}
        completed = subprocess.run(  # noqa: S603 - our own script, with our own arguments
            [sys.executable, __file__, "--child", str(messages), str(backfill)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    if completed.returncode != 0:
        print(completed.stdout[-2000:], completed.stderr[-4000:], sep="\n")
        return completed.returncode
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def main() -> int:
    messages = int(os.environ.get("BENCH_INGEST_MESSAGES", "20000"))
    backfill = int(os.environ.get("BENCH_INGEST_BACKFILL", "1000000"))
    sqlite_backfill = min(backfill, int(os.environ.get("BENCH_INGEST_SQLITE_BACKFILL", "100000")))
    print(
        f"== HL7 ingestion without the network: {messages:,} messages, backfill of {sqlite_backfill:,} (SQLite) "
        f"and {backfill:,} (PostgreSQL) =="
    )
    results: dict[str, dict] = {}
    sqlite = _sqlite_child(messages, sqlite_backfill)
    if isinstance(sqlite, int):
        return sqlite
    results["SQLite"] = sqlite
    postgres = run_child_on_fresh_database(
        script=__file__, database=DATABASE_NAME, args=[str(messages), str(backfill)], drop_env=("TASKS_BACKEND",)
    )
    if isinstance(postgres, int) and postgres != 0:
        return postgres  # the child failed (its output is printed): keep the last complete results
    if isinstance(postgres, dict):
        results["PostgreSQL"] = postgres
    table = _table(results)
    result = {
        "benchmark": "ingest",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "postgres": server_version(server_url()) if "PostgreSQL" in results else "",
        "messages": messages,
        "backfill": backfill,
        "sqlite_backfill": sqlite_backfill,
        "results": results,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "ingest.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / "ingest.md").write_text(
        f"# HL7 ingestion (parse to visible) and backfill benchmark\n\n{result['date']}, {result['machine']}"
        + (f", PostgreSQL {result['postgres']}" if result["postgres"] else "")
        + ".\n\nORU^R01 messages with 5 values each, 9 in 10 new final reports and 1 in 10 corrections of the "
        "report sent 705 messages before; one patient per 5 reports.\n\n"
        f"Run: `BENCH_INGEST_MESSAGES={messages} BENCH_INGEST_BACKFILL={backfill} "
        f"BENCH_INGEST_SQLITE_BACKFILL={sqlite_backfill} python bench/bench_ingest.py`\n\n"
        f"{table}\n"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        outcome = _child(int(sys.argv[2]), int(sys.argv[3]))
        print(json.dumps(outcome))
        sys.exit(0)
    sys.exit(main())
