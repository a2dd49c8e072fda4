"""The release job on PostgreSQL: 1,000,000 due reports released and notified, in reports per second.

    python bench/bench_release.py                       # the full size (about 10 minutes on 2 cores)
    BENCH_RELEASE_REPORTS=20000 python bench/bench_release.py   # a quick run

Creates the database careportal_bench_release (dropped first if it exists) on the server in BENCH_POSTGRES_URL
(default postgres://postgres@127.0.0.1:5432/postgres), migrates it, and fills it with INSERT ... SELECT
generate_series: one patient per 5 reports, 60% of them with a portal account, 5% with a proxy who has the results
scope, 2% who chose "wait for my clinician" for imaging, and on top of the due reports some the job must leave alone
(held, preliminary, imaging for those who wait). Then it times `results_release_due` with one worker, and again with
several workers at once (threads, as several task workers would be), after putting the reports back as unreleased.

The work runs in a child process so that its Django settings (this database, the database task backend that
production uses) never mix with another benchmark's. Prints a table and writes bench/results/release.md and .json.
"""

import datetime
import json
import os
import sys
import threading
import time
from pathlib import Path

# Run as a script (`python bench/bench_<name>.py`, and its child process) or imported by bench/run.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.pg_support import machine, run_child_on_fresh_database, server_url, server_version
from bench.summary import Row, Target

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DATABASE_NAME = "careportal_bench_release"
REPORTS_PER_PATIENT = 5


# The child process: fill the database and time the job ---------------------------------------------------------


FILL_SQL = [
    # Portal accounts for 60% of patients, and one account per proxy. The password is unusable ("!"), as for an
    # account that has not been activated: nobody signs in here.
    """
    INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
        date_joined, public_id, display_name, is_helpdesk, two_step_method, recovery_questions_round)
    SELECT '!', false, 'bench' || g, 'Name' || g, 'Bench', 'bench' || g || '@example.org', false, true,
        now(), gen_random_uuid(), '', false, '', 0
    FROM generate_series(1, %(accounts)s) AS g
    """,
    """
    INSERT INTO patients_patient (public_id, hospital_number, nhs_number, given_name, family_name, birth_date,
        address_line_1, address_line_2, town, postcode, email, mobile_phone, home_phone, contact_preference,
        created_at, updated_at, notify_by_email, notify_by_sms, user_id)
    SELECT gen_random_uuid(), 'B' || lpad(g::text, 9, '0'), NULL, 'Given', 'Family', date '1970-01-01' + (g %% 20000),
        '1 Bench Street', '', 'London', 'N1 9GU', '', '', '', 'portal', now(), now(), true, false,
        CASE WHEN g %% 5 < 3 THEN (SELECT min(id) FROM accounts_user) + (g / 5) * 3 + (g %% 5) ELSE NULL END
    FROM generate_series(0, %(patients)s - 1) AS g
    """,
    # Proxies (granted by the adult patient, results scope) for 5% of patients, using the accounts after those of
    # the patients.
    """
    INSERT INTO proxy_proxyrelationship (public_id, relationship, basis, origin, scopes, sensitive_categories_granted,
        status, valid_from, created_at, applicant_note, identity_evidence, relationship_evidence, evidence_note,
        consent_note, decision_reason, patient_id, proxy_id)
    SELECT gen_random_uuid(), 'carer', 'granted', 'invitation', '["results", "appointments"]'::jsonb, '[]'::jsonb,
        'active', date '2025-01-01', now(), '', '', '', '', '', '', p.id,
        (SELECT min(id) FROM accounts_user) + %(patient_accounts)s + row_number() OVER (ORDER BY p.id) - 1
    FROM patients_patient p WHERE p.id %% 20 = 0
    """,
    """
    INSERT INTO results_resultpreference (result_kind, wait_for_clinician, updated_at, patient_id)
    SELECT 'imaging', true, now(), p.id FROM patients_patient p WHERE p.id %% 50 = 7
    """,
    # The due reports: lab results due over the last week, spread over every patient.
    """
    INSERT INTO results_diagnosticreport (public_id, source_system, placer_order_number, filler_order_number,
        test_code, test_name, test_coding_system, category, specimen, collected_at, reported_at, ordering_clinician,
        ordering_clinician_code, status, lab_comment, version, is_amended, is_abnormal, is_critical, result_kind,
        sensitive_category, arrived_at, updated_at, release_mode, release_rule_description, release_due_at,
        hold_reason, retraction_reason, clinician_comment, patient_id)
    SELECT gen_random_uuid(), 'WINPATH', '', 'D' || g, 'FBC', 'Full blood count', 'WINPATH', 'HM', 'Venous blood',
        now() - interval '8 days', now() - interval '8 days', '', '', 'final', '', 1, false, false, false, 'lab',
        '', now() - interval '8 days', now(), 'after_working_days', 'Blood and other lab results',
        now() - (g %% 10080) * interval '1 minute', '', '', '',
        (SELECT min(id) FROM patients_patient) + g %% %(patients)s
    FROM generate_series(0, %(reports)s - 1) AS g
    """,
    # Reports the job must leave alone, mixed in among the due ones: held (2%), preliminary (1%), and imaging for
    # the patients who wait for their clinician.
    """
    INSERT INTO results_diagnosticreport (public_id, source_system, placer_order_number, filler_order_number,
        test_code, test_name, test_coding_system, category, specimen, collected_at, reported_at, ordering_clinician,
        ordering_clinician_code, status, lab_comment, version, is_amended, is_abnormal, is_critical, result_kind,
        sensitive_category, arrived_at, updated_at, release_mode, release_rule_description, release_due_at,
        held_at, hold_reason, retraction_reason, clinician_comment, patient_id)
    SELECT gen_random_uuid(), 'WINPATH', '', 'S' || g, 'UE', 'Urea and electrolytes', 'WINPATH', 'CH', 'Blood',
        now() - interval '8 days', now() - interval '8 days', '', '', CASE WHEN g %% 3 = 0 THEN 'preliminary'
        ELSE 'final' END, '', 1, false, false, false, 'lab', '', now() - interval '8 days', now(),
        'after_working_days', 'Blood and other lab results', now() - (g %% 10080) * interval '1 minute',
        CASE WHEN g %% 3 = 0 THEN NULL ELSE now() - interval '1 day' END, '', '', '',
        (SELECT min(id) FROM patients_patient) + (g * 7) %% %(patients)s
    FROM generate_series(0, %(reports)s * 3 / 100 - 1) AS g
    """,
    """
    INSERT INTO results_diagnosticreport (public_id, source_system, placer_order_number, filler_order_number,
        test_code, test_name, test_coding_system, category, specimen, collected_at, reported_at, ordering_clinician,
        ordering_clinician_code, status, lab_comment, version, is_amended, is_abnormal, is_critical, result_kind,
        sensitive_category, arrived_at, updated_at, release_mode, release_rule_description, release_due_at,
        hold_reason, retraction_reason, clinician_comment, patient_id)
    SELECT gen_random_uuid(), 'PACS', '', 'I' || p.id, 'CXR', 'Chest X-ray', 'PACS', 'RAD', '',
        now() - interval '30 days', now() - interval '30 days', '', '', 'final', '', 1, false, false, false,
        'imaging', '', now() - interval '30 days', now(), 'after_working_days', 'Radiology reports',
        now() - interval '1 day', '', '', '', p.id
    FROM results_resultpreference pref JOIN patients_patient p ON p.id = pref.patient_id
    """,
    # Set hint bits and the visibility map now, as on a live table, so the first timed run does not pay for them.
    "VACUUM ANALYZE",
]

RESET_SQL = [
    "UPDATE results_diagnosticreport SET released_at = NULL, release_notified_at = NULL WHERE released_at IS NOT NULL",
    "DELETE FROM results_reportaction",
    "DELETE FROM notifications_notification",
    "DELETE FROM django_tasks_database_dbtaskresult",
    "VACUUM ANALYZE results_diagnosticreport",
]


def _child(reports: int, batch_size: int, workers: int) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "careportal.config.settings.base"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, connections, transaction
    from django.utils import timezone

    from careportal.results.release_job import reports_due_for_release, results_release_due

    call_command("migrate", verbosity=0)
    patients = max(reports // REPORTS_PER_PATIENT, 1)
    patient_accounts = (patients // 5) * 3 + min(patients % 5, 3)
    proxies = patients // 20 + 1
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for statement in FILL_SQL:
            cursor.execute(
                statement,
                {
                    "reports": reports,
                    "patients": patients,
                    "accounts": patient_accounts + proxies,
                    "patient_accounts": patient_accounts,
                },
            )
    fill_seconds = time.perf_counter() - started
    rows: list[dict] = []

    def timed(label: str, worker_count: int) -> None:
        now = timezone.now()
        counts = [0] * worker_count

        def run(index: int) -> None:
            try:
                counts[index] = results_release_due(now=now, batch_size=batch_size)
            finally:
                connections.close_all()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(worker_count)]
        begin = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - begin
        released = sum(counts)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM notifications_notification")
            notifications = cursor.fetchone()[0]
            cursor.execute("SELECT count(*) FROM results_reportaction")
            actions = cursor.fetchone()[0]
        if released != reports or actions != reports:
            raise SystemExit(f"{label}: released {released}, recorded {actions}, expected {reports}")
        rows.append(
            {
                "workload": label,
                "reports": released,
                "notifications": notifications,
                "seconds": round(seconds, 2),
                "reports_per_second": round(released / seconds),
            }
        )

    timed(f"1 worker, batches of {batch_size}", 1)
    with connection.cursor() as cursor:
        for statement in RESET_SQL:
            cursor.execute(statement)
    timed(f"{workers} workers at once, batches of {batch_size}", workers)

    # The ceiling: the same due reports marked released by one bulk UPDATE of the job's own selection, in one
    # transaction; no audit rows, no notifications, no batches. Nothing the job does can be faster.
    with connection.cursor() as cursor:
        for statement in RESET_SQL:
            cursor.execute(statement)
    now = timezone.now()
    begin = time.perf_counter()
    with transaction.atomic():
        updated = reports_due_for_release(now=now).update(released_at=now, release_notified_at=now, updated_at=now)
    seconds = time.perf_counter() - begin
    if updated != reports:
        raise SystemExit(f"the bulk UPDATE released {updated}, expected {reports}")
    rows.append(
        {
            "workload": "ceiling: one bulk SQL UPDATE of the same due reports",
            "reports": updated,
            "notifications": 0,
            "seconds": round(seconds, 2),
            "reports_per_second": round(updated / seconds),
        }
    )
    ceiling = rows[-1]["reports_per_second"]
    for row in rows:
        row["ratio"] = round(row["reports_per_second"] / ceiling, 3)
    return {"fill_seconds": round(fill_seconds, 1), "patients": patients, "rows": rows}


# The parent process -----------------------------------------------------------------------------------------


def summary(result: dict) -> list[Row]:
    """Rows for `make bench`'s table (bench/summary.py): each run of the job against the bulk UPDATE."""
    target = Target("≥ 0.25 of the bulk UPDATE", 0.25)
    if "ratio" not in result["rows"][0]:  # results from before the ceiling was measured
        return [
            Row(
                workload=f"Release job on PostgreSQL: {row['workload']}",
                size=f"{row['reports']:,} due reports",
                figure=f"{row['reports_per_second']:,} reports/s",
                against="not measured in that run",
                target=target,
            )
            for row in result["rows"]
        ]
    ceiling = result["rows"][-1]
    return [
        Row(
            workload=f"Release job on PostgreSQL: {row['workload']}",
            size=f"{row['reports']:,} due reports",
            figure=f"{row['reports_per_second']:,} reports/s",
            against=f"{ceiling['reports_per_second']:,} reports/s (bulk UPDATE)",
            ratio=f"{row['ratio']:.3f}",
            target=target,
            measured=row["ratio"],
        )
        for row in result["rows"][:-1]
    ]


def _print_table(rows: list[dict]) -> str:
    lines = [
        "| workload | reports | notifications | seconds | reports/s | ratio to the bulk UPDATE |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['workload']} | {r['reports']:,} | {r['notifications']:,} | {r['seconds']:.2f} | "
            f"{r['reports_per_second']:,} | {r['ratio']:.3f} |"
            for r in rows
        ),
    ]
    table = "\n".join(lines)
    print(table)
    return table


def main() -> int:
    reports = int(os.environ.get("BENCH_RELEASE_REPORTS", "1000000"))
    batch_size = int(os.environ.get("BENCH_RELEASE_BATCH", "500"))
    workers = int(os.environ.get("BENCH_RELEASE_WORKERS", "2"))
    print(f"== Release job: {reports:,} due reports on PostgreSQL ==")
    outcome = run_child_on_fresh_database(
        script=__file__,
        database=DATABASE_NAME,
        args=[str(reports), str(batch_size), str(workers)],
        drop_env=("TASKS_BACKEND",),
    )
    if isinstance(outcome, int):
        return outcome
    result = outcome
    print(f"(filled {reports:,} due reports for {result['patients']:,} patients in {result['fill_seconds']} s)")
    table = _print_table(result["rows"])
    result.update(
        {
            "benchmark": "release job",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "postgres": server_version(server_url()),
            "due_reports": reports,
            "batch_size": batch_size,
        }
    )
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "release.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / "release.md").write_text(
        f"# Release job benchmark\n\n{result['date']}, {result['machine']}, PostgreSQL {result['postgres']}.\n\n"
        f"{reports:,} due reports for {result['patients']:,} patients (60% with an account, 5% with a proxy), "
        "with held, preliminary and wait-for-my-clinician reports mixed in. Each row starts from the same unreleased "
        "set; notifications are queued (database rows plus one delivery task per batch), not sent.\n\n"
        f"Run: `BENCH_RELEASE_REPORTS={reports} python bench/bench_release.py`\n\n{table}\n"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        outcome = _child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(outcome))
        sys.exit(0)
    sys.exit(main())
