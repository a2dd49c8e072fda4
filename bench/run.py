"""Run every benchmark under bench/ and print one table; `make bench` calls this (`make bench ONLY=web` runs one).

Each bench/bench_<name>.py module's `main()` runs its workloads, prints its own detailed table and writes
bench/results/<name>.md and <name>.json; its `summary(result)` turns that JSON into rows of the one table
(bench/summary.py): the workload, its figure, the ceiling or peer measured in the same run, the ratio, and issue 15's
target, met or missed by how much. The table is printed and written to bench/results/latest.md, with the latest
results of every benchmark (not only those run this time).

The benchmarks and their quick-run settings:
- bench_mllp: HL7 ingestion over 4 MLLP connections against a minimal store-commit-ACK server on the same database
  (BENCH_MLLP_MESSAGES);
- bench_ingest: HL7 parse-to-visible (one by one and in batches) against python-hl7's raw parse rate on the same
  messages, and a `manage.py hl7_import` backfill of 1,000,000 messages on PostgreSQL and 100,000 on SQLite
  (BENCH_INGEST_MESSAGES, BENCH_INGEST_BACKFILL, BENCH_INGEST_SQLITE_BACKFILL);
- bench_release: the release job on 1,000,000 due reports against one bulk UPDATE (BENCH_RELEASE_REPORTS);
- bench_fhir: the FHIR Observation search in-process against one SQL query per page (BENCH_FHIR_PATIENTS);
- bench_web: a synthetic trust of 5,000 and of 1,000,000 patients built by `generate_trust` (about 100,000 and
  20,000,000 observations; the build timed against 30 minutes), then the results page and the FHIR search through
  gunicorn with 16 locust clients against a bare view, and sign-in under credential stuffing
  (BENCH_WEB_SMALL_PATIENTS, BENCH_WEB_PATIENTS, BENCH_WEB_SECONDS; BENCH_WEB_KEEP=1 keeps each trust for the next
  run).

PostgreSQL is the shared server at 127.0.0.1:5432 (PostgreSQL's default settings), or BENCH_POSTGRES_URL; with
BENCH_POSTGRES=tuned, a server of the run's own with docs/deployment.md's settings for a large trust
(bench/tuned_postgres.py). Each result names the server's shared_buffers and max_wal_size.
"""

import contextlib
import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.summary import Row
from bench.summary import table as summary_table
from bench.tuned_postgres import tuned_server

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"


def summary_rows(names: list[str]) -> list[Row]:
    """The rows of every benchmark in `names` that has results in bench/results/ (bench_<name>.py writes
    <name>.json; its `summary(result)` turns that into rows)."""
    rows: list[Row] = []
    for name in names:
        results = RESULTS / f"{name.removeprefix('bench_')}.json"
        module = importlib.import_module(f"bench.{name}")
        if results.exists() and hasattr(module, "summary"):
            rows += module.summary(json.loads(results.read_text()))
    return rows


def main() -> int:
    only = os.environ.get("ONLY", "")
    names = sorted(m.name for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name.startswith("bench_"))
    if only:
        names = [name for name in names if name == f"bench_{only}"]
    with contextlib.ExitStack() as stack:
        if os.environ.get("BENCH_POSTGRES") == "tuned":
            # A server of the run's own, with docs/deployment.md's settings (bench/tuned_postgres.py).
            os.environ["BENCH_POSTGRES_URL"] = stack.enter_context(tuned_server())
            print(f"== PostgreSQL tuned as docs/deployment.md says: {os.environ['BENCH_POSTGRES_URL']} ==")
        for name in names:
            module = importlib.import_module(f"bench.{name}")
            module.main()
    all_names = sorted(m.name for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name.startswith("bench_"))
    table = summary_table(summary_rows(all_names))
    print("\n== Summary (latest results of every benchmark, in bench/results/) ==\n")
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(
        "# Benchmarks: latest results\n\n"
        "Written by `make bench` (bench/run.py) from each benchmark's latest run (bench/results/<name>.md has its "
        "date, machine and exact command). Each row's ceiling or peer was measured in the same run as its figure; "
        "targets are issue 15's.\n\n" + table
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
