"""The query plans behind each patient page and FHIR search, on a database filled by `manage.py generate_trust`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/cp_trust_big python bench/explain_pages.py

Takes the synthetic patient with the most reports who has an account, requests each patient page and each FHIR
search as them (django.test.Client, in-process), captures every SQL query, and runs EXPLAIN ANALYZE on each.
Prints, per page: the number of queries, the slowest query's time, and every sequential scan of a table with more
than SEQ_SCAN_ROWS rows (a query that reads a whole large table grows with the trust, not with the patient).
Read-only apart from the audit events the requests write and the app token it makes; run it on a test database.
"""

import datetime
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEQ_SCAN_ROWS = int(os.environ.get("SEQ_SCAN_ROWS", "10000"))


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careportal.config.settings.base")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    import django

    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from oauth2_provider.models import AccessToken, Application

    from careportal.fhir.models import AppConnection, TokenContext
    from careportal.patients.models import Patient

    if connection.vendor != "postgresql":
        print("EXPLAIN here needs PostgreSQL: set DATABASE_URL.")
        return 2
    patient = (
        Patient.objects.filter(hospital_number__startswith="SYN", user__isnull=False)
        .annotate(n=django.db.models.Count("diagnostic_reports"))
        .order_by("-n")
        .first()
    )
    if patient is None or patient.user is None:
        print("No synthetic patient with an account: run `manage.py generate_trust` first.")
        return 2
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relkind = 'r'")
        sizes = dict(cursor.fetchall())
    report = patient.diagnostic_reports.filter(released_at__isnull=False).order_by("-collected_at").first()
    thread = patient.message_threads.order_by("-created_at").first()
    letter = patient.letters.order_by("-letter_date").first()
    appointment = patient.appointments.order_by("-start").first()
    client = Client()
    client.force_login(patient.user)
    pages = [("home", "/home/"), ("test results", "/test-results/")]
    if report:
        pages.append(("a result", f"/test-results/{report.public_id}/"))
    pages += [("messages", "/messages/")]
    if thread:
        pages.append(("a thread", f"/messages/{thread.public_id}/"))
    pages += [("appointments", "/appointments/")]
    if appointment:
        pages.append(("an appointment", f"/appointments/{appointment.public_id}/"))
    pages += [("letters", "/letters/")]
    if letter:
        pages.append(("a letter", f"/letters/{letter.public_id}/"))
    pages += [("access log", "/who-has-viewed-your-record/")]

    application, _ = Application.objects.get_or_create(
        name="Explain app",
        defaults={
            "client_type": Application.CLIENT_PUBLIC,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": "http://127.0.0.1:8765/callback",
        },
    )
    app_connection = AppConnection.objects.create(
        user=patient.user, application=application, patient=patient, scopes="launch/patient openid patient/*.read"
    )
    token = AccessToken.objects.create(
        user=patient.user,
        application=application,
        token=f"explain-{patient.pk}-{timezone.now().timestamp()}",
        scope=app_connection.scopes,
        expires=timezone.now() + datetime.timedelta(hours=1),
    )
    TokenContext.objects.create(access_token=token, connection=app_connection)
    pid = patient.public_id
    searches = [
        ("FHIR Observation", f"/fhir/r4/Observation?patient={pid}&_sort=-date&_count=50"),
        ("FHIR Observation by category", f"/fhir/r4/Observation?patient={pid}&category=laboratory&_sort=-date"),
        ("FHIR Observation by code", f"/fhir/r4/Observation?patient={pid}&code=http://loinc.org|718-7&_sort=-date"),
        ("FHIR Observation by date", f"/fhir/r4/Observation?patient={pid}&date=ge2024-01-01&_sort=-date"),
        ("FHIR DiagnosticReport", f"/fhir/r4/DiagnosticReport?patient={pid}&_sort=-date"),
        ("FHIR Appointment", f"/fhir/r4/Appointment?patient={pid}&_sort=-date"),
        ("FHIR Communication", f"/fhir/r4/Communication?patient={pid}&_sort=-sent"),
        ("FHIR DocumentReference", f"/fhir/r4/DocumentReference?patient={pid}&_sort=-date"),
        ("FHIR AuditEvent", f"/fhir/r4/AuditEvent?patient={pid}&_sort=-date"),
    ]
    print(f"Patient {patient.pk}: {patient.n} reports. Tables: {int(sizes.get('results_observation', 0)):,} obs.")
    for label, url in pages + searches:
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token.token}"} if url.startswith("/fhir/") else {}
        client.get(url, **headers)  # once to warm the session and the plans
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, **headers)
        findings = []
        slowest = 0.0
        with connection.cursor() as cursor:
            for query in captured.captured_queries:
                sql = query["sql"]
                if not sql.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)
                plan = cursor.fetchone()[0][0]
                slowest = max(slowest, float(plan["Execution Time"]))
                findings += [
                    f"    seq scan on {table} ({int(sizes.get(table, 0)):,} rows): {sql[:160]}"
                    for table in _seq_scans(plan["Plan"])
                    if sizes.get(table, 0) >= SEQ_SCAN_ROWS
                ]
        queries = len(captured.captured_queries)
        print(f"{label:34} {response.status_code}  {queries:3} queries, slowest {slowest:7.2f} ms")
        for finding in findings:
            print(finding)
    return 0


def _seq_scans(node: dict) -> list[str]:
    found = [node["Relation Name"]] if node.get("Node Type") == "Seq Scan" else []
    for child in node.get("Plans", []):
        found += _seq_scans(child)
    return found


if __name__ == "__main__":
    sys.exit(main())
