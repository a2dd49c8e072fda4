"""The FHIR API on PostgreSQL: `GET /fhir/r4/Observation?patient=<id>&_count=50&_sort=-date`, in requests per second.

    python bench/bench_fhir.py                            # 20,000 patients, 1,000,000 observations
    BENCH_FHIR_PATIENTS=2000 python bench/bench_fhir.py   # a quick run

Creates the database careportal_bench_fhir (dropped first if it exists) on the server in BENCH_POSTGRES_URL
(default postgres://postgres@127.0.0.1:5432/postgres), migrates it, and fills it with INSERT ... SELECT
generate_series: every patient has a portal account and 10 released DiagnosticReports of 5 Observations each (their
reports interleaved through the table, as they arrive over time), and one more patient has 100 reports. A random
sample of patients each get a connected app and a bearer token, as after a SMART launch.

Then, in-process through django.test.Client (no HTTP server), it times:

- the search, one request per sampled patient (BENCH_FHIR_REQUESTS, default 500);
- walking every `next` link with _count=10 for some of them (5 pages each);
- the ceiling for both, in the same run on the same connection: one SQL query for the same page of the patient's
  released observations (the columns the resource needs, the same ORDER BY and LIMIT) and each row turned into a
  minimal FHIR-shaped dict and json.dumps'd: the least any implementation has to do;
- the number of queries per API request for a patient with 10 reports and for the one with 100.

The work runs in a child process with its own Django settings. Prints a table and writes bench/results/fhir.md and
.json. No patient data appears in the output: the patients are synthetic, and only counts and timings are printed.
"""

import datetime
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

# Run as a script (`python bench/bench_<name>.py`, and its child process) or imported by bench/run.py.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.pg_support import machine, run_child_on_fresh_database, server_url, server_version
from bench.summary import Row

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DATABASE_NAME = "careportal_bench_fhir"
REPORTS_PER_PATIENT = 10
OBSERVATIONS_PER_REPORT = 5
BIG_PATIENT_REPORTS = 100
PAGE = 50
WALK_PAGE = 10


# The child process: fill the database and time the API ----------------------------------------------------------


FILL_SQL = [
    # One portal account per patient (plus the patient with 100 reports). The password is unusable ("!"): nobody
    # signs in here, the app calls with a bearer token.
    """
    INSERT INTO accounts_user (password, is_superuser, username, first_name, last_name, email, is_staff, is_active,
        date_joined, public_id, display_name, is_helpdesk, two_step_method, recovery_questions_round)
    SELECT '!', false, 'bench' || g, 'Name' || g, 'Bench', 'bench' || g || '@example.org', false, true,
        now(), gen_random_uuid(), '', false, '', 0
    FROM generate_series(0, %(patients)s) AS g
    """,
    """
    INSERT INTO patients_patient (public_id, hospital_number, nhs_number, given_name, family_name, birth_date,
        address_line_1, address_line_2, town, postcode, email, mobile_phone, home_phone, contact_preference,
        created_at, updated_at, notify_by_email, notify_by_sms, user_id)
    SELECT gen_random_uuid(), 'B' || lpad(g::text, 9, '0'), NULL, 'Given', 'Family', date '1970-01-01' + (g %% 20000),
        '1 Bench Street', '', 'London', 'N1 9GU', '', '', '', 'portal', now(), now(), true, false,
        (SELECT min(id) FROM accounts_user) + g
    FROM generate_series(0, %(patients)s) AS g
    """,
    # 10 released reports per patient, interleaved (report k of every patient, then report k+1, ...), one a week.
    """
    INSERT INTO results_diagnosticreport (public_id, source_system, placer_order_number, filler_order_number,
        test_code, test_name,
        test_coding_system, category, specimen, collected_at, reported_at, ordering_clinician,
        ordering_clinician_code, status, lab_comment, version, is_amended, is_abnormal, is_critical, result_kind,
        sensitive_category, arrived_at, updated_at, release_mode, release_rule_description, release_due_at,
        released_at, hold_reason, retraction_reason, clinician_comment, patient_id)
    SELECT gen_random_uuid(), 'WINPATH', '', 'D' || g, 'FBC', 'Full blood count', 'WINPATH', 'HM', 'Venous blood',
        now() - (g / %(patients)s) * interval '7 days' - (g %% 1440) * interval '1 minute',
        now() - (g / %(patients)s) * interval '7 days', '', '', 'final', '', 1, false, false, false, 'lab', '',
        now() - (g / %(patients)s) * interval '7 days', now(), 'after_working_days', 'Blood and other lab results',
        now() - (g / %(patients)s) * interval '7 days',
        now() - (g / %(patients)s) * interval '7 days' + interval '1 day',
        '', '', '', (SELECT min(id) FROM patients_patient) + g %% %(patients)s
    FROM generate_series(0, %(patients)s * %(reports_per_patient)s - 1) AS g
    """,
    # The last patient: 100 released reports.
    """
    INSERT INTO results_diagnosticreport (public_id, source_system, placer_order_number, filler_order_number,
        test_code, test_name,
        test_coding_system, category, specimen, collected_at, reported_at, ordering_clinician,
        ordering_clinician_code, status, lab_comment, version, is_amended, is_abnormal, is_critical, result_kind,
        sensitive_category, arrived_at, updated_at, release_mode, release_rule_description, release_due_at,
        released_at, hold_reason, retraction_reason, clinician_comment, patient_id)
    SELECT gen_random_uuid(), 'WINPATH', '', 'BIG' || g, 'UE', 'Urea and electrolytes', 'WINPATH', 'CH', 'Blood',
        now() - g * interval '3 days', now() - g * interval '3 days', '', '', 'final', '', 1, false, false, false,
        'lab', '', now() - g * interval '3 days', now(), 'after_working_days', 'Blood and other lab results',
        now() - g * interval '3 days', now() - g * interval '3 days' + interval '1 day', '', '', '',
        (SELECT max(id) FROM patients_patient)
    FROM generate_series(0, %(big_patient_reports)s - 1) AS g
    """,
    # 5 numeric observations per report, observed when the specimen was collected.
    """
    INSERT INTO results_observation (report_id, sequence, code, name, coding_system, value_type, value_text,
        value_numeric, value_comparator, value_code, value_code_system, unit, reference_range, reference_low,
        reference_high, interpretation, status, observed_at, comment, attachment, attachment_content_type)
    SELECT r.id, s, 'C' || s, 'Analyte ' || s, 'WINPATH', 'NM', (100 + s * 7 + r.id %% 13)::text,
        100 + s * 7 + r.id %% 13, '', '', '', 'g/L', '90-150', 90, 150, CASE WHEN r.id %% 13 = 0 THEN 'H' ELSE 'N' END,
        'F', r.collected_at, '', '', ''
    FROM results_diagnosticreport r CROSS JOIN generate_series(1, %(observations_per_report)s) AS s
    ORDER BY r.id, s
    """,
    # Set hint bits and the visibility map now, as on a live table, so the first timed requests do not pay for them.
    "VACUUM ANALYZE",
]

# The ceiling: the same page of the same rows in the same order as the API's query (released reports of the
# patient, sorted by Coalesce(observed_at, collected_at, reported_at, arrived_at) newest first, then id), with the
# columns a FHIR Observation needs, fetched on the same connection. `%(after)s` is the keyset condition for the
# next pages.
CEILING_SQL = """
    SELECT o.id, r.public_id, o.sequence, o.status, r.status, r.result_kind, r.category, o.coding_system, o.code,
        o.name, p.public_id, COALESCE(o.observed_at, r.collected_at, r.reported_at, r.arrived_at) AS sort_key,
        r.released_at, o.value_type, o.value_numeric, o.value_comparator, o.unit, o.value_text, o.reference_low,
        o.reference_high, o.interpretation
    FROM results_observation o
    JOIN results_diagnosticreport r ON r.id = o.report_id
    JOIN patients_patient p ON p.id = r.patient_id
    WHERE r.patient_id = %s AND r.released_at IS NOT NULL {after}
    ORDER BY sort_key DESC, o.id DESC
    LIMIT %s
"""
CEILING_AFTER = "AND (COALESCE(o.observed_at, r.collected_at, r.reported_at, r.arrived_at), o.id) < (%s, %s)"


def _ceiling_resource(row: tuple) -> dict:
    (_, report_id, sequence, obx_status, _, kind, category, system, code, name, patient_id, effective, released) = row[
        :13
    ]
    value_type, numeric, comparator, unit, text, low, high, interpretation = row[13:]
    resource: dict = {
        "resourceType": "Observation",
        "id": f"{report_id}-{sequence}",
        "status": "final" if obx_status == "F" else "preliminary",
        "category": [{"coding": [{"code": "laboratory" if kind == "lab" else kind}], "text": category}],
        "code": {"coding": [{"system": system, "code": code, "display": name}], "text": name},
        "subject": {"reference": f"Patient/{patient_id}"},
        "effectiveDateTime": effective.isoformat(),
        "issued": released.isoformat(),
    }
    if value_type == "NM" and numeric is not None:
        quantity: dict = {"value": float(numeric), "unit": unit}
        if comparator:
            quantity["comparator"] = comparator
        resource["valueQuantity"] = quantity
    elif text:
        resource["valueString"] = text
    if low is not None or high is not None:
        resource["referenceRange"] = [{"low": {"value": float(low)}, "high": {"value": float(high)}}]
    if interpretation:
        resource["interpretation"] = [{"coding": [{"code": interpretation}]}]
    return resource


def _stats(label: str, latencies: list[float], *, requests: int, resources: int, ceiling: str = "") -> dict:
    total = sum(latencies)
    ordered = sorted(latencies)
    return {
        "workload": label,
        "requests": requests,
        "resources": resources,
        "seconds": round(total, 3),
        "per_second": round(requests / total, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 2),
        "ceiling": ceiling,
    }


def fill_database(patients: int) -> tuple[int, float]:
    """Fill the (migrated) database with FILL_SQL; returns the number of observations and the seconds it took."""
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        for statement in FILL_SQL:
            cursor.execute(
                statement,
                {
                    "patients": patients,
                    "reports_per_patient": REPORTS_PER_PATIENT,
                    "big_patient_reports": BIG_PATIENT_REPORTS,
                    "observations_per_report": OBSERVATIONS_PER_REPORT,
                },
            )
        cursor.execute("SELECT count(*) FROM results_observation")
        observations = cursor.fetchone()[0]
    return observations, time.perf_counter() - started


def bench_application():  # type: ignore[no-untyped-def]
    """A public SMART app, as registered by an admin."""
    from oauth2_provider.models import Application

    return Application.objects.create(
        name="Bench app",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="http://127.0.0.1:8765/callback",
    )


def bearer_token_for(application, patient, expires: datetime.datetime) -> str:  # type: ignore[no-untyped-def]
    """A bearer token for `patient`'s own record, with its connection, as after a SMART standalone launch."""
    from oauth2_provider.models import AccessToken

    from careportal.fhir.models import AppConnection, TokenContext

    connection_row = AppConnection.objects.create(
        user_id=patient.user_id,
        application=application,
        patient=patient,
        scopes="launch/patient openid fhirUser patient/*.read",
    )
    value = f"bench-{patient.pk}-{random.getrandbits(64):x}"
    token = AccessToken.objects.create(
        user_id=patient.user_id, application=application, token=value, scope=connection_row.scopes, expires=expires
    )
    TokenContext.objects.create(access_token=token, connection=connection_row)
    return value


def _child(patients: int, requests: int, walks: int) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "careportal.config.settings.base"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from careportal.patients.models import Patient

    call_command("migrate", verbosity=0)
    observations, fill_seconds = fill_database(patients)
    application = bench_application()
    expires = timezone.now() + datetime.timedelta(hours=4)

    def token_for(patient: Patient) -> str:
        return bearer_token_for(application, patient, expires)

    ids = list(Patient.objects.order_by("pk").values_list("pk", flat=True))
    big_id = ids.pop()
    sample_ids = random.Random(20261206).sample(ids, min(requests, len(ids)))
    by_id = Patient.objects.in_bulk([*sample_ids, big_id])
    sample = [(by_id[pk], token_for(by_id[pk])) for pk in sample_ids]
    big = (by_id[big_id], token_for(by_id[big_id]))
    client = Client()

    def api(patient: Patient, token: str, count: int, url: str = "") -> dict:
        if url:
            response = client.get(url, HTTP_AUTHORIZATION=f"Bearer {token}")
        else:
            response = client.get(
                "/fhir/r4/Observation",
                {"patient": str(patient.public_id), "_count": str(count), "_sort": "-date"},
                HTTP_AUTHORIZATION=f"Bearer {token}",
            )
        if response.status_code != 200:
            raise SystemExit(f"the API answered {response.status_code}")
        return json.loads(response.content)

    def next_url(bundle: dict) -> str:
        for link in bundle.get("link", []):
            if link["relation"] == "next":
                return str(link["url"])
        return ""

    def ceiling(patient: Patient, count: int, after: tuple | None = None) -> tuple[str, list[tuple]]:
        sql = CEILING_SQL.format(after=CEILING_AFTER if after else "")
        params = [patient.pk, *(after or ()), count + 1]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        page = rows[:count]
        return json.dumps([_ceiling_resource(row) for row in page]), rows

    # Warm up both paths (imports, URL resolver, first plans), then check they return the same observations.
    for patient, token in sample[:5]:
        api_ids = [entry["resource"]["id"] for entry in api(patient, token, PAGE)["entry"]]
        ceiling_ids = [resource["id"] for resource in json.loads(ceiling(patient, PAGE)[0])]
        if api_ids != ceiling_ids or len(api_ids) != REPORTS_PER_PATIENT * OBSERVATIONS_PER_REPORT:
            raise SystemExit("the ceiling query does not return the API's page")

    rows: list[dict] = []
    # Alternate the API and the ceiling per patient, so both see the same cache state.
    api_times: list[float] = []
    ceiling_times: list[float] = []
    api_resources = ceiling_resources = 0
    for patient, token in sample:
        begin = time.perf_counter()
        bundle = api(patient, token, PAGE)
        api_times.append(time.perf_counter() - begin)
        api_resources += len(bundle.get("entry", []))
        begin = time.perf_counter()
        body, _ = ceiling(patient, PAGE)
        ceiling_times.append(time.perf_counter() - begin)
        ceiling_resources += body.count('"resourceType"')
    ceiling_label = "ceiling: one SQL query + json.dumps of minimal dicts"
    rows.append(
        _stats(
            f"ceiling: one SQL query for the page + json.dumps (_count={PAGE})",
            ceiling_times,
            requests=len(sample),
            resources=ceiling_resources,
        )
    )
    rows.append(
        _stats(
            f"API: GET Observation?patient=…&_count={PAGE}&_sort=-date",
            api_times,
            requests=len(sample),
            resources=api_resources,
            ceiling=ceiling_label,
        )
    )

    # Walking every `next` link with a smaller page.
    walk_api: list[float] = []
    walk_ceiling: list[float] = []
    walk_api_resources = walk_ceiling_resources = 0
    for patient, token in sample[:walks]:
        url = ""
        while True:
            begin = time.perf_counter()
            bundle = api(patient, token, WALK_PAGE, url)
            walk_api.append(time.perf_counter() - begin)
            walk_api_resources += len(bundle.get("entry", []))
            url = next_url(bundle)
            if not url:
                break
        after = None
        while True:
            begin = time.perf_counter()
            body, fetched = ceiling(patient, WALK_PAGE, after)
            walk_ceiling.append(time.perf_counter() - begin)
            walk_ceiling_resources += body.count('"resourceType"')
            if len(fetched) <= WALK_PAGE:
                break
            last = fetched[WALK_PAGE - 1]
            after = (last[11], last[0])
    if walk_api_resources != walk_ceiling_resources:
        raise SystemExit("walking the pages: the API and the ceiling returned different numbers of observations")
    rows.append(
        _stats(
            f"ceiling: every page, _count={WALK_PAGE}, keyset query + json.dumps",
            walk_ceiling,
            requests=len(walk_ceiling),
            resources=walk_ceiling_resources,
        )
    )
    rows.append(
        _stats(
            f"API: every `next` page, _count={WALK_PAGE}, {walks} patients",
            walk_api,
            requests=len(walk_api),
            resources=walk_api_resources,
            ceiling=ceiling_label,
        )
    )
    for api_row, ceiling_row in ((rows[1], rows[0]), (rows[3], rows[2])):
        api_row["ratio"] = round(api_row["per_second"] / ceiling_row["per_second"], 3)
        ceiling_row["ratio"] = 1.0

    # Queries per request: a patient with 10 reports and the one with 100, first page and a later page.
    query_counts = []
    for label, (patient, token) in (
        (f"{REPORTS_PER_PATIENT} reports", sample[0]),
        (f"{BIG_PATIENT_REPORTS} reports", big),
    ):
        # Counted on a second request, as an app reads: the first one of a connection also writes "last used".
        api(patient, token, PAGE)
        with CaptureQueriesContext(connection) as first:
            bundle = api(patient, token, PAGE)
        later = next_url(bundle)
        later_count = None
        if later:
            with CaptureQueriesContext(connection) as second:
                api(patient, token, PAGE, later)
            later_count = len(second.captured_queries)
        query_counts.append(
            {
                "patient": label,
                "observations": bundle["total"],
                "first_page_queries": len(first.captured_queries),
                "next_page_queries": later_count,
            }
        )
    return {
        "fill_seconds": round(fill_seconds, 1),
        "patients": patients,
        "observations": observations,
        "rows": rows,
        "query_counts": query_counts,
    }


# The parent process -----------------------------------------------------------------------------------------


def summary(result: dict) -> list[Row]:
    """Rows for `make bench`'s table (bench/summary.py): the API in-process against one SQL query per page."""
    rows = []
    for api_row, ceiling_row in ((result["rows"][1], result["rows"][0]), (result["rows"][3], result["rows"][2])):
        rows.append(
            Row(
                workload=f"FHIR API in-process on PostgreSQL: {api_row['workload']}",
                size=f"{result['observations']:,} observations, {api_row['requests']:,} requests",
                figure=f"{api_row['per_second']:,.0f} requests/s (p95 {api_row['p95_ms']:.1f} ms)",
                against=f"{ceiling_row['per_second']:,.0f} requests/s (one SQL query + json.dumps)",
                ratio=f"{api_row['ratio']:.3f}",
            )
        )
    counts = [q["first_page_queries"] for q in result["query_counts"]]
    rows.append(
        Row(
            workload="FHIR API: SQL queries per Observation search request",
            size=", ".join(f"{q['observations']:,} observations" for q in result["query_counts"]),
            figure=" and ".join(str(count) for count in counts),
            ratio="constant" if len(set(counts)) == 1 else "grows with the data",
        )
    )
    return rows


def _tables(result: dict) -> str:
    lines = [
        "| workload | requests | resources | seconds | requests/s | p50 ms | p95 ms | ratio |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(
            f"| {r['workload']} | {r['requests']:,} | {r['resources']:,} | {r['seconds']:.2f} | "
            f"{r['per_second']:,.1f} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
            f"{r['ratio']:.3f}{' of the ceiling' if r['ceiling'] else ''} |"
            for r in result["rows"]
        ),
        "",
        "| queries per API request | observations | first page | next page |",
        "| --- | ---: | ---: | ---: |",
        *(
            f"| patient with {q['patient']} | {q['observations']:,} | {q['first_page_queries']} | "
            f"{q['next_page_queries'] if q['next_page_queries'] is not None else '(one page)'} |"
            for q in result["query_counts"]
        ),
    ]
    table = "\n".join(lines)
    print(table)
    return table


def main() -> int:
    patients = int(os.environ.get("BENCH_FHIR_PATIENTS", "20000"))
    requests = int(os.environ.get("BENCH_FHIR_REQUESTS", "500"))
    walks = int(os.environ.get("BENCH_FHIR_WALKS", "100"))
    print(f"== FHIR API: Observation search, {patients:,} patients on PostgreSQL ==")
    outcome = run_child_on_fresh_database(
        script=__file__, database=DATABASE_NAME, args=[str(patients), str(requests), str(walks)], drop_env=()
    )
    if isinstance(outcome, int):
        return outcome
    result = outcome
    print(
        f"(filled {result['patients']:,} patients, {result['observations']:,} observations "
        f"in {result['fill_seconds']} s)"
    )
    table = _tables(result)
    result.update(
        {
            "benchmark": "fhir observation search",
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "machine": machine(),
            "postgres": server_version(server_url()),
            "page_size": PAGE,
        }
    )
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "fhir.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS_DIR / "fhir.md").write_text(
        f"# FHIR API benchmark\n\n{result['date']}, {result['machine']}, PostgreSQL {result['postgres']}.\n\n"
        f"{result['patients']:,} patients, each with {REPORTS_PER_PATIENT} released reports of "
        f"{OBSERVATIONS_PER_REPORT} observations ({result['observations']:,} observations in all, with one patient "
        f"of {BIG_PATIENT_REPORTS} reports). Requests go through django.test.Client in-process with a bearer token, "
        "one patient (and token) per request; the ceiling fetches the same page with one SQL query on the same "
        "connection and json.dumps a minimal FHIR-shaped dict per row. Times are per request, in a single thread; "
        "the ratio is the API's requests/s over the ceiling's.\n\n"
        f"Run: `BENCH_FHIR_PATIENTS={patients} python bench/bench_fhir.py`\n\n{table}\n"
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        outcome = _child(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
        print(json.dumps(outcome))
        sys.exit(0)
    sys.exit(main())
