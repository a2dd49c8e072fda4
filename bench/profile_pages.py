"""What one request costs in the web process: queries, Python calls and CPU, for the bare view, the signed-in test
results page and the FHIR Observation search, in-process (django.test.Client, no HTTP server) on PostgreSQL.

    python bench/profile_pages.py                 # the table
    PROFILE_TOP=40 python bench/profile_pages.py  # and each URL's queries, and its 40 costliest functions
                                                  # (cProfile, cumulative) appended to PROFILE_DUMP

Fills a fresh database (BENCH_PROFILE_DATABASE, default careportal_profile_pages) like bench/bench_web.py (the
bench's synthetic patients, 10 released reports of 5 values each), signs one patient in, warms every URL up, then
times PROFILE_REQUESTS (default 200) requests of each with time.process_time (this process's CPU only: not
PostgreSQL's) and counts one request's queries and Python calls. Nothing is written to bench/results/: the figures
are for comparing a change before and after, on the same machine, in the same run.
"""

import cProfile
import datetime
import io
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.pg_support import run_child_on_fresh_database

PATIENTS = 200


def _child(requests: int, top: int) -> dict:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.web_settings"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CONN_MAX_AGE"] = "600"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from bench.bench_fhir import bearer_token_for, bench_application, fill_database
    from careportal.patients.models import Patient

    call_command("migrate", verbosity=0)
    fill_database(PATIENTS)
    patient = Patient.objects.select_related("user").order_by("pk")[PATIENTS // 2]
    signed_in = Client()
    signed_in.force_login(patient.user)
    token = bearer_token_for(bench_application(), patient, timezone.now() + datetime.timedelta(hours=4))
    urls = {
        "bare view": ("/bench/bare/", {}),
        "/test-results/": ("/test-results/", {}),
        "FHIR Observation search": (
            f"/fhir/r4/Observation?patient={patient.public_id}&_count=50&_sort=-date",
            {"HTTP_AUTHORIZATION": f"Bearer {token}"},
        ),
    }
    app = Client()  # an app sends its bearer token, not the browser's session cookie
    rows = {}
    for label, (url, headers) in urls.items():
        browser = app if headers else signed_in
        for _ in range(20):  # warm up: templates compiled, caches filled, the session's "last seen" written
            if browser.get(url, **headers).status_code != 200:
                raise SystemExit(f"{label}: not 200")
        queries: list[str] = []

        def count(execute, sql, params, many, context, seen=queries):  # type: ignore[no-untyped-def]
            seen.append(sql)
            return execute(sql, params, many, context)

        with connection.execute_wrapper(count):  # not CaptureQueriesContext: each request resets its log
            browser.get(url, **headers)
        profiler = cProfile.Profile()
        profiler.enable()
        browser.get(url, **headers)
        profiler.disable()
        stats = pstats.Stats(profiler)
        calls = stats.total_calls  # type: ignore[attr-defined]
        if top:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(top)
            dump_path = os.environ.get("PROFILE_DUMP") or os.path.join(tempfile.gettempdir(), "profile_pages.txt")
            with open(dump_path, "a") as dump:
                dump.write(f"===== {label} =====\n{out.getvalue()}\n")
        samples = []
        for _ in range(requests):
            started = time.process_time()
            browser.get(url, **headers)
            samples.append(time.process_time() - started)
        samples.sort()
        rows[label] = {
            "queries": len(queries),
            "query_sql": [sql[:200] for sql in queries] if top else [],
            "calls": calls,
            "cpu_ms_median": round(statistics.median(samples) * 1000, 2),
            "cpu_ms_p10": round(samples[len(samples) // 10] * 1000, 2),
        }
    return rows


def main() -> int:
    requests = int(os.environ.get("PROFILE_REQUESTS", "200"))
    top = int(os.environ.get("PROFILE_TOP", "0"))
    outcome = run_child_on_fresh_database(
        script=__file__,
        database=os.environ.get("BENCH_PROFILE_DATABASE", "careportal_profile_pages"),
        args=[str(requests), str(top)],
        drop_env=("TASKS_BACKEND",),
    )
    if isinstance(outcome, int):
        return outcome
    print("| request | queries | Python calls | CPU ms (median) | CPU ms (p10) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, row in outcome.items():
        print(f"| {label} | {row['queries']} | {row['calls']:,} | {row['cpu_ms_median']} | {row['cpu_ms_p10']} |")
    for label, row in outcome.items():
        for sql in row["query_sql"]:
            print(f"{label}: {sql}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main())
