"""Run every benchmark under bench/ and print one summary table; `make bench` calls this.

Each bench/bench_*.py module's `main()` runs its workloads, prints its own table and writes it to bench/results/
(<name>.md and <name>.json). This script then reads those JSON files and prints the two headline numbers side by
side with their ratios, and writes the summary to bench/results/summary.md:

- HL7 ingestion: 20,000 ORU^R01 messages over 4 MLLP connections, in messages per second, against a minimal server
  on the same database that stores the raw message, commits and acknowledges (the ceiling), with a bare MLLP server
  and a listener doing no database work as references;
- the release job on 1,000,000 due reports on PostgreSQL, in reports per second, one worker and several at once;
- the FHIR API's Observation search on 1,000,000 observations (20,000 patients) on PostgreSQL, in requests per
  second with p50/p95 latency, against one SQL query for the same page plus json.dumps (the ceiling), and its
  query count per request.

- HL7 parse to visible (bench_ingest.py): ORU^R01 messages applied one by one and in batches, against python-hl7's
  raw parse rate on the same messages, and a backfill of 1,000,000 messages with `manage.py hl7_import`, on SQLite
  and PostgreSQL.

Set BENCH_MLLP_MESSAGES, BENCH_RELEASE_REPORTS, BENCH_FHIR_PATIENTS or BENCH_INGEST_MESSAGES and
BENCH_INGEST_BACKFILL for a quicker run; `make bench ONLY=mllp`
runs one benchmark.
"""

import importlib
import json
import os
import pkgutil
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results"


def summary_rows() -> list[tuple[str, str, str, str]]:
    """(workload, size, rate, ratio) rows from the latest results of each benchmark."""
    rows: list[tuple[str, str, str, str]] = []
    mllp = RESULTS / "mllp.json"
    if mllp.exists():
        data = json.loads(mllp.read_text())
        for row in data["rows"]:
            rows.append(
                (
                    f"HL7 ingestion over {data['connections']} connections: {row['workload']}",
                    f"{row['messages']:,} messages",
                    f"{row['per_second']:,.0f} msgs/s",
                    (
                        f"{row['ratio']:.3f} of the {row['ceiling'].split(':')[0]}"
                        if row.get("ceiling")
                        else "reference: no database"
                    ),
                )
            )
    release = RESULTS / "release.json"
    if release.exists():
        data = json.loads(release.read_text())
        baseline = data["rows"][0]["reports_per_second"]
        for row in data["rows"]:
            rows.append(
                (
                    f"Release job on PostgreSQL: {row['workload']}",
                    f"{row['reports']:,} due reports",
                    f"{row['reports_per_second']:,} reports/s",
                    f"{row['reports_per_second'] / baseline:.2f} × one worker",
                )
            )
    fhir = RESULTS / "fhir.json"
    if fhir.exists():
        data = json.loads(fhir.read_text())
        for row in data["rows"]:
            rows.append(
                (
                    f"FHIR API on PostgreSQL: {row['workload']}",
                    f"{data['observations']:,} observations, {row['requests']:,} requests",
                    f"{row['per_second']:,.0f} requests/s (p50 {row['p50_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms)",
                    f"{row['ratio']:.3f} of the ceiling" if row["ceiling"] else "ceiling",
                )
            )
        counts = ", ".join(
            f"{q['first_page_queries']} for {q['observations']:,} observations" for q in data["query_counts"]
        )
        rows.append(("FHIR API: queries per Observation search request", "first page", counts, "constant"))
    ingest = RESULTS / "ingest.json"
    if ingest.exists():
        data = json.loads(ingest.read_text())
        for database, result in data["results"].items():
            for row in result["rows"]:
                rows.append(
                    (
                        f"HL7 without the network on {database}: {row['workload']}",
                        f"{row['messages']:,} messages",
                        f"{row['per_second']:,.0f} msgs/s",
                        f"{row['ratio_to_raw_parse']:.3f} of raw hl7.parse",
                    )
                )
    return rows


def summary_table(rows: list[tuple[str, str, str, str]]) -> str:
    lines = ["| workload | size | rate | ratio |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {w} | {s} | {r} | {q} |" for w, s, r, q in rows]
    return "\n".join(lines) + "\n"


def main() -> int:
    sys.path.insert(0, str(BENCH_DIR.parent))
    only = os.environ.get("ONLY", "")
    names = sorted(m.name for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name.startswith("bench_"))
    if only:
        names = [name for name in names if name == f"bench_{only}"]
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        module.main()
    table = summary_table(summary_rows())
    print("\n== Summary (latest results in bench/results/) ==\n")
    print(table)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "summary.md").write_text("# Benchmark summary\n\n" + table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
