"""Pages and the FHIR API under load, and sign-in under attack, through a real server on PostgreSQL.

    python bench/bench_web.py                                        # 100,000 and 20,000,000 observations
    BENCH_WEB_PATIENTS=50000 BENCH_WEB_SECONDS=10 python bench/bench_web.py    # a quick run

For each database size (BENCH_WEB_SMALL_PATIENTS, default 5,000 patients, about 100,000 observations; and
BENCH_WEB_PATIENTS, default 1,000,000 patients, about 20,000,000 observations), in a fresh database, it builds a
synthetic trust with `generate_trust` (careportal/demo/synthetic.py: patients, five years of lab results,
appointments, letters, messages, proxies; BENCH_WEB_OBSERVATIONS_PER_PATIENT, default 21.5) and times the build
(issue 15: one million patients with twenty million observations in under 30 minutes). With BENCH_WEB_KEEP=1 each
size's database (careportal_bench_web_<patients>) is kept, and a later run with the same size uses it as it is and
reports that build's figures and date, so the server rows can be measured again without building the trust again.

It then starts gunicorn with the product's gunicorn.conf.py (gthread; BENCH_WEB_WORKERS=2 processes of the default
WEB_THREADS, or BENCH_WEB_THREADS; at most BENCH_WEB_WORKER_CONNECTIONS=8 connections a process, kept open: see
`server_environment`) and the product's settings plus a bare view (bench/web_settings.py), and drives it with locust
(bench/locust_web.py): 16 closed-loop clients, each a signed-in synthetic patient with released results (a fixed
random sample), with their own session (and their own app's bearer token for the FHIR rows), for BENCH_WEB_SECONDS
(default 30) per row:

1. the bare Django view (no database, no template; the same middleware): the ceiling;
2. the signed-in "test results" page (/test-results/);
3. GET /fhir/r4/Observation?patient=…&_count=50&_sort=-date;
4. the results page again while 10 attackers post sign-in attempts for random usernames at 50 a second in all
   (credential stuffing from one address), on a server whose connection cap also fits the attackers' 10
   kept-alive connections: the legitimate p95 against row 2's, and how many attempts reached the password hasher
   (a counting Argon2 hasher in the server: bench/web_urls.py).

Rows report requests/s and p50/p95/p99 (locust's percentiles, in ms) and the ratio to the bare view. Prints a table
and writes bench/results/web.md and .json. The load generator shares the machine's cores with the server, for the
bare view as for the pages, so the ratios compare like with like.
"""

import datetime
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.pg_support import machine, run_child_on_fresh_database, server_url, server_version
from bench.summary import Row, Target

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
DATABASE_NAME = "careportal_bench_web"
CLIENTS = 16
# bench/locust_web.py's attackers: each keeps a connection of its own open, as the 16 clients do.
ATTACKERS = int(os.environ.get("BENCH_WEB_ATTACKERS", "10"))
OBSERVATIONS_PER_PATIENT = float(os.environ.get("BENCH_WEB_OBSERVATIONS_PER_PATIENT", "21.5"))
BUILD_TARGET_PATIENTS = 1_000_000  # issue 15: a trust of a million patients…
BUILD_TARGET_SECONDS = 30 * 60  # …built in under 30 minutes
ROWS = (
    ("bare", "bare view", "bare Django view (ceiling)"),
    ("results", "test results page", "signed-in test results page"),
    ("fhir", "FHIR Observation search", "GET /fhir/r4/Observation?patient=…&_count=50"),
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_serving(url: str, server: subprocess.Popen) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"gunicorn stopped at start-up (exit {server.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - our own local server
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("gunicorn did not answer within 60 s")


def _locust(*, target: str, host: str, clients_file: str, seconds: int, hash_count_file: str) -> dict[str, dict]:
    """Load `host` with locust (bench/locust_web.py) for `seconds`; its statistics by request name. The hash count
    starts from zero when the timing starts, after the warm-up."""
    completed = subprocess.run(  # noqa: S603 - our own load generator, with our own arguments
        [sys.executable, str(BENCH_DIR / "locust_web.py"), target, host, clients_file, str(seconds), hash_count_file],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if completed.returncode != 0:
        raise SystemExit(f"locust failed: {completed.stderr[-2000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _row(stats: dict, label: str, *, size: str) -> dict:
    if stats["requests"] == 0 or stats["failures"]:
        raise SystemExit(f"{label}: {stats['failures']} of {stats['requests']} requests failed")
    return {"workload": label, "size": size, **stats}


def server_environment(port: int, *, connections: int = CLIENTS) -> dict[str, str]:
    """The product's gunicorn settings (careportal/config/gunicorn.conf.py) for the bench's server: its defaults,
    but for the number of processes (BENCH_WEB_WORKERS, default 2: one a core here), a cap on each one's connections
    (BENCH_WEB_WORKER_CONNECTIONS, by default the clients' kept-alive `connections` spread evenly, 8 a process for
    the 16 clients, as a proxy's pool would be spread; without it one process often took 11 and the other 5) and no
    restarts after a number of requests (WEB_MAX_REQUESTS=0: at the bare view's rate every process would restart
    every second or so)."""
    processes = int(os.environ.get("BENCH_WEB_WORKERS", "2"))
    environment = {
        "WEB_BIND": f"127.0.0.1:{port}",
        "WEB_PROCESSES": str(processes),
        "WEB_WORKER_CONNECTIONS": os.environ.get("BENCH_WEB_WORKER_CONNECTIONS", str(-(-connections // processes))),
        "WEB_MAX_REQUESTS": "0",
        "WEB_LOG_LEVEL": "warning",
    }
    if os.environ.get("BENCH_WEB_THREADS"):  # otherwise the product's default
        environment["WEB_THREADS"] = os.environ["BENCH_WEB_THREADS"]
    return environment


def server_shape() -> str:
    """The server's shape in words, from the product's gunicorn.conf.py read with the bench's environment."""
    import runpy

    saved = dict(os.environ)
    os.environ.update(server_environment(0))
    try:
        conf = runpy.run_path(str(ROOT / "careportal" / "config" / "gunicorn.conf.py"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    attack_cap = server_environment(0, connections=CLIENTS + ATTACKERS)["WEB_WORKER_CONNECTIONS"]
    return (
        f"{conf['workers']} processes × {conf['threads']} threads, "
        f"at most {conf['worker_connections']} connections a process ({attack_cap} for the attack)"
    )


def _child(patients: int, seconds: int) -> dict:
    sys.path.insert(0, str(ROOT))
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.web_settings"
    os.environ["LOG_LEVEL"] = "WARNING"
    os.environ["CONN_MAX_AGE"] = "600"
    os.environ["ALLOWED_HOSTS"] = "127.0.0.1,testserver"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone

    from bench.bench_fhir import bearer_token_for, bench_application
    from careportal.demo.synthetic import trust_generate
    from careportal.patients.models import Patient
    from careportal.results.models import DiagnosticReport, Observation

    call_command("migrate", verbosity=0)
    build = _build_kept(patients)
    if build is None:
        started = time.perf_counter()
        built = trust_generate(patients=patients, observations_per_patient=OBSERVATIONS_PER_PATIENT)
        build = {
            "fill_seconds": round(time.perf_counter() - started, 1),
            "observations": built.rows[Observation._meta.db_table],
            "total_rows": built.total_rows,
            "built_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        }
        _build_keep(build)
    application = bench_application()
    expires = timezone.now() + datetime.timedelta(hours=4)
    # A fixed random sample of patients who have an account and at least one released result, as the people who
    # open this page are.
    ids = list(Patient.objects.filter(user__isnull=False).order_by("pk").values_list("pk", flat=True))
    random.Random(20261206).shuffle(ids)
    chosen: list[int] = []
    for pk in ids:
        if DiagnosticReport.objects.filter(patient_id=pk, released_at__isnull=False).exists():
            chosen.append(pk)
            if len(chosen) == CLIENTS:
                break
    sample = Patient.objects.filter(pk__in=chosen).select_related("user")
    clients = []
    for patient in sample:
        browser = Client()
        browser.force_login(patient.user)
        if browser.get("/test-results/").status_code != 200:
            raise SystemExit("a signed-in synthetic patient cannot open the test results page")
        clients.append(
            {
                "cookie_name": settings.SESSION_COOKIE_NAME,
                "session": browser.cookies[settings.SESSION_COOKIE_NAME].value,
                "token": bearer_token_for(application, patient, expires),
                "patient": str(patient.public_id),
            }
        )
    from django.db import connections

    connections.close_all()

    rows: list[dict] = []
    size = f"{build['observations']:,} observations"
    with tempfile.TemporaryDirectory(prefix="bench-web-") as workdir:
        clients_file = os.path.join(workdir, "clients.json")
        Path(clients_file).write_text(json.dumps(clients))
        hash_count_file = os.path.join(workdir, "hashes")
        Path(hash_count_file).write_bytes(b"")

        def serve(connections: int) -> tuple[subprocess.Popen, str]:
            port = _free_port()
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "-c",
                    "careportal/config/gunicorn.conf.py",
                    "careportal.config.wsgi",
                ],
                env={
                    **os.environ,
                    **server_environment(port, connections=connections),
                    "BENCH_HASH_COUNT_FILE": hash_count_file,
                },
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            host = f"http://127.0.0.1:{port}"
            _wait_until_serving(f"{host}/bench/bare/", server)
            return server, host

        def load(host: str, target: str, seconds: int) -> dict[str, dict]:
            return _locust(
                target=target, host=host, clients_file=clients_file, seconds=seconds, hash_count_file=hash_count_file
            )

        server, host = serve(CLIENTS)
        try:
            for target, name, label in ROWS:
                stats = load(host, target, seconds)
                rows.append(_row(stats[name], label, size=size))
        finally:
            _stop(server)
        # The attack opens a connection for each attacker as well: the server is sized for them all, as the product's
        # docs tell a trust to size it (deployment.md, "Sizing the web processes"; with the 16 clients' cap the
        # legitimate clients queued for a free connection). It is compared with row 2's unloaded p95, the 16 clients'
        # best server: without the attackers' connections to fill it, this larger cap lets the 16 split unevenly
        # between the processes, which would make the unloaded p95 worse and the ratio look better than it is.
        server, host = serve(CLIENTS + ATTACKERS)
        try:
            # Twice as long: allauth lets 30 attempts a minute from one address through to the password check, so
            # the share hashed falls as an attack goes on; a short window would overstate it.
            stats = load(host, "attack", 2 * seconds)
            attack = _row(stats["test results page"], "signed-in test results page, under attack", size=size)
            if "attack: sign-in attempt" not in stats:
                raise SystemExit(f"no sign-in attempt was timed: {sorted(stats)}")
            attack["attempts"] = stats["attack: sign-in attempt"]["requests"]
            attack["attempts_per_second"] = stats["attack: sign-in attempt"]["per_second"]
            attack["hashed"] = len(Path(hash_count_file).read_bytes())
            rows.append(attack)
        finally:
            _stop(server)
    return {"patients": patients, **build, "rows": rows}


def _stop(server: subprocess.Popen) -> None:
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()


# A trust kept between runs (BENCH_WEB_KEEP=1): the build's own figures, stored in the database it built ---------


def _build_keep(build: dict) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_web_build (figures text NOT NULL)")
        cursor.execute("DELETE FROM bench_web_build")
        cursor.execute("INSERT INTO bench_web_build (figures) VALUES (%s)", [json.dumps(build)])


def _build_kept(patients: int) -> dict | None:
    """The figures of the trust this database already holds, if it was kept (BENCH_WEB_KEEP=1) and is the same
    size; None when a trust must be built."""
    from django.db import connection

    from careportal.demo.synthetic import synthetic_patient_count

    if os.environ.get("BENCH_WEB_KEEP") != "1" or synthetic_patient_count() != patients:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('bench_web_build') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return None
        cursor.execute("SELECT figures FROM bench_web_build")
        row = cursor.fetchone()
    return dict(json.loads(row[0])) if row else None


# The parent process -----------------------------------------------------------------------------------------


def summary(result: dict) -> list[Row]:
    """Rows for `make bench`'s table (bench/summary.py), for each database size, against the bare view."""
    rows: list[Row] = []
    for size in result["sizes"]:
        bare, page, fhir, attack = size["rows"]
        where = f"{size['observations']:,} observations, {result['clients']} clients"
        if "total_rows" in size:
            at_scale = size["patients"] >= BUILD_TARGET_PATIENTS
            rows.append(
                Row(
                    workload="Synthetic trust built by generate_trust (PostgreSQL, one transaction, then VACUUM)",
                    size=f"{size['patients']:,} patients, {size['observations']:,} observations",
                    figure=f"{size['fill_seconds'] / 60:,.1f} min ({size['total_rows']:,} rows)",
                    target=Target("1M patients in < 30 min", BUILD_TARGET_SECONDS / 60, at_most=True)
                    if at_scale
                    else None,
                    measured=size["fill_seconds"] / 60 if at_scale else None,
                )
            )
        bare_figure = f"{bare['per_second']:,.0f} requests/s"
        rows += [
            Row(
                workload="Signed-in test results page (gunicorn, PostgreSQL)",
                size=where,
                figure=f"{page['per_second']:,.0f} requests/s",
                against=f"{bare_figure} (bare Django view)",
                ratio=f"{page['ratio']:.3f}",
                target=Target("≥ 0.10 of the bare view", 0.10),
                measured=page["ratio"],
            ),
            Row(
                workload="Signed-in test results page: latency",
                size=where,
                figure=f"p50 {page['p50_ms']:.0f} ms, p95 {page['p95_ms']:.0f} ms, p99 {page['p99_ms']:.0f} ms",
                against=f"bare view p95 {bare['p95_ms']:.0f} ms",
                target=Target("p95 ≤ 100 ms", 100, at_most=True),
                measured=page["p95_ms"],
            ),
            Row(
                workload="FHIR GET Observation?patient=…&_count=50 (gunicorn, PostgreSQL)",
                size=where,
                figure=f"{fhir['per_second']:,.0f} requests/s (p95 {fhir['p95_ms']:.0f} ms)",
                against=f"{page['per_second']:,.0f} requests/s (the results page)",
                ratio=f"{fhir['per_second'] / page['per_second']:.2f} × the page",
                target=Target("≥ the HTML page", 1.0),
                measured=fhir["per_second"] / page["per_second"],
            ),
            Row(
                workload=f"Results page under {attack['attempts_per_second']:.0f} sign-in attempts/s (random accounts)",
                size=where,
                figure=f"p95 {attack['p95_ms']:.0f} ms",
                against=f"p95 {page['p95_ms']:.0f} ms unloaded",
                ratio=f"{attack['ratio']:.2f} × unloaded",
                target=Target("legitimate p95 ≤ 2 × unloaded", 2.0, at_most=True),
                measured=attack["ratio"],
            ),
            Row(
                workload="Sign-in attempts under attack that reached the password hasher",
                size=where,
                figure=f"{attack['hashed']:,} of {attack['attempts']:,}",
                ratio=f"{attack['hashed'] / attack['attempts']:.1%}" if attack["attempts"] else "",
                target=Target("≤ 1% hashed", 0.01, at_most=True),
                measured=attack["hashed"] / attack["attempts"] if attack["attempts"] else None,
            ),
        ]
    if len(result["sizes"]) == 2:
        small, big = result["sizes"]
        rows.append(
            Row(
                workload="Results page p95 as the database grows",
                size=f"{small['observations']:,} → {big['observations']:,} observations",
                figure=f"{small['rows'][1]['p95_ms']:.0f} ms → {big['rows'][1]['p95_ms']:.0f} ms",
                ratio=f"{result['results_page_p95_growth']} ×",
                target=Target("p95 at 20M ≤ 1.2 × p95 at 100k", 1.2, at_most=True),
                measured=result["results_page_p95_growth"],
            )
        )
    return rows


def _with_ratios(result: dict) -> dict:
    rows = result["rows"]
    bare, page, fhir, attack = rows
    for row in (page, fhir):
        row["ratio"] = round(row["per_second"] / bare["per_second"], 3)
    bare["ratio"] = 1.0
    attack["ratio"] = round(attack["p95_ms"] / page["p95_ms"], 2) if page["p95_ms"] else None
    return result


def _table(results: list[dict]) -> str:
    lines = [
        "| workload | size | requests/s | p50 ms | p95 ms | p99 ms | ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for result in results:
        for row in result["rows"]:
            if "attempts" in row:
                ratio = (
                    f"p95 {row['ratio']:.2f} × unloaded; {row['hashed']:,} of {row['attempts']:,} attempts "
                    f"({row['attempts_per_second']:.0f}/s) hashed"
                )
            else:
                ratio = f"{row['ratio']:.3f} of the bare view"
            lines.append(
                f"| {row['workload']} | {row['size']} | {row['per_second']:,.1f} | {row['p50_ms']:.0f} | "
                f"{row['p95_ms']:.0f} | {row['p99_ms']:.0f} | {ratio} |"
            )
    table = "\n".join(lines)
    print(table)
    return table


def main() -> int:
    small = int(os.environ.get("BENCH_WEB_SMALL_PATIENTS", "5000"))
    big = int(os.environ.get("BENCH_WEB_PATIENTS", "1000000"))
    seconds = int(os.environ.get("BENCH_WEB_SECONDS", "30"))
    results = []
    for patients in (small, big):
        print(f"== Web pages and FHIR under load: {patients:,} patients on PostgreSQL ==")
        outcome = run_child_on_fresh_database(
            script=__file__,
            database=f"{DATABASE_NAME}_{patients}",
            args=[str(patients), str(seconds)],
            drop_env=("TASKS_BACKEND",),
            keep=os.environ.get("BENCH_WEB_KEEP") == "1",
        )
        if isinstance(outcome, int):
            return outcome
        print(
            f"(generate_trust built, at {outcome['built_at']}, {outcome['patients']:,} patients, "
            f"{outcome['observations']:,} observations, "
            f"{outcome['total_rows']:,} rows in {outcome['fill_seconds']} s)"
        )
        results.append(_with_ratios(outcome))
    table = _table(results)
    small_p95, big_p95 = (result["rows"][1]["p95_ms"] for result in results)
    growth = round(big_p95 / small_p95, 2) if small_p95 else None
    summary = {
        "benchmark": "web pages under load",
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "postgres": server_version(server_url()),
        "seconds_per_row": seconds,
        "clients": CLIENTS,
        "server": server_shape(),
        "results_page_p95_growth": growth,
        "sizes": results,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    (RESULTS_DIR / "web.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS_DIR / "web.md").write_text(
        f"# Web pages and the FHIR API under load\n\n{summary['date']}, {summary['machine']}, "
        f"PostgreSQL {summary['postgres']}; gunicorn (careportal/config/gunicorn.conf.py) {summary['server']}, "
        f"{CLIENTS} locust clients, {seconds} s per row.\n\n"
        f"Run: `BENCH_WEB_SMALL_PATIENTS={small} BENCH_WEB_PATIENTS={big} BENCH_WEB_SECONDS={seconds} "
        f"python bench/bench_web.py`\n\n{table}\n\n"
        f"Results page p95 at the larger size: {growth} × its p95 at the smaller size.\n"
    )
    small_size, big_size = (f"{result['observations']:,}" for result in results)
    print(f"Results page p95 at {big_size} observations: {growth} × its p95 at {small_size}.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(int(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main())
