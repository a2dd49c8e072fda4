"""The scale-out shape of docs/deployment.md, run for real: two web processes (gunicorn, with the project's
careportal/config/gunicorn.conf.py), two task workers (`db_worker`) and two HL7 listeners (`hl7_listen`), all on one
PostgreSQL database, with email over a real SMTP server.

Results go in through BOTH listeners, some of them through both at once (a sender retrying on the other listener
behind a load balancer); release jobs are queued several times over for both workers to run at once. Every result
must be stored once, released once and notified once. A clinician starts signing in on one web process and finishes
(the emailed code) on the other, then uses the session on both; signing out on one ends it on both.

PostgreSQL only: several processes writing at once is what PostgreSQL deployments do. SQLite deployments run one
machine (docs/deployment.md), and pytest's SQLite test database lives in this process's memory. The test makes a
database of its own beside pytest's (so nothing it does is seen by, or undone with, other tests) and drops it after.

The processes run in development mode (no `collectstatic` needed, plain http) with DEBUG off and the production
default for the cache: a table in the database (`dbcache://`), shared by both web processes.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.hl7.mllp_client import MLLPClient, ack_code, control_id
from tests.smtp import SMTPServer

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="scale-out runs several processes on one shared PostgreSQL database (set DATABASE_URL=postgres://...)",
    ),
    # pytest's own test database is set up only for tests that ask for one: this test copies it (scale_database).
    pytest.mark.django_db(transaction=True),
]

ROOT = Path(settings.BASE_DIR)
FBC = (ROOT / "tests" / "hl7" / "samples" / "oru_r01_fbc_final.hl7").read_bytes()
PATIENTS = 12
# Sent through both listeners at the same moment: each must be applied once, and both copies acknowledged AA.
SENT_TWICE = 4
# Bounded waits: generous, because the machine may be busy; a healthy run takes a few seconds of each.
START_SECONDS = 90
WORK_SECONDS = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(what: str, condition: Callable[[], Any], *, timeout: float, processes: list[Child]) -> Any:
    """Poll `condition` until it returns something truthy; fail (naming `what`) at the deadline or as soon as one of
    the processes has died."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        dead = [child.name for child in processes if child.popen.poll() is not None]
        assert not dead, f"{', '.join(dead)} stopped while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


class Child:
    """One process, its output (standard output and error) in a file, stopped with SIGTERM and, failing that,
    killed."""

    def __init__(self, name: str, args: list[str], *, env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.log_path = logs / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    def ask_to_stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.ask_to_stop()
        try:
            self.popen.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()

    def tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def run(args: list[str], *, env: dict[str, str]) -> str:
    completed = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, f"manage.py {args[0]} failed:\n{completed.stdout[-2000:]}\n{completed.stderr}"
    return completed.stdout


def fbc_for(*, n: int, hospital_number: str) -> bytes:
    """The FBC sample as patient `hospital_number`'s own report: its own control id and order numbers."""
    lines = []
    for segment in FBC.rstrip(b"\r").split(b"\r"):
        fields = segment.split(b"|")
        if fields[0] == b"MSH":
            fields[9] = b"SCALE%05d" % n
        elif fields[0] == b"PID":
            fields[3] = hospital_number.encode() + b"^^^RRV^MR"
        elif fields[0] in (b"ORC", b"OBR"):
            fields[2], fields[3] = b"OE-S%05d" % n, b"S%05d" % n
        lines.append(b"|".join(fields))
    return b"\r".join(lines) + b"\r"


@pytest.fixture
def scale_database(django_db_blocker: Any) -> Iterator[str]:
    """A database of this test's own on pytest's PostgreSQL server, dropped afterwards.

    It starts as a copy of pytest's test database (already migrated: copying takes a second where migrating from
    nothing takes tens), which PostgreSQL can copy only while no one is connected to it, so this process lets go of
    its connection first. Should the copy be refused all the same, it starts empty; `migrate` then runs in full.
    """
    database = connection.settings_dict
    template = database["NAME"]
    name = f"{template}_scale"[:63]
    password = f":{quote(database['PASSWORD'], safe='')}" if database.get("PASSWORD") else ""
    host = f"{database['HOST'] or '127.0.0.1'}:{database['PORT'] or 5432}"
    server = f"{quote(database['USER'], safe='')}{password}@{host}"
    with django_db_blocker.unblock():
        connection.close()
    with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        try:
            admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        except psycopg.errors.ObjectInUse:
            admin.execute(f'CREATE DATABASE "{name}"')
    yield f"postgres://{server}/{name}"
    with psycopg.connect(f"postgresql://{server}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def children(tmp_path: Path) -> Iterator[list[Child]]:
    started: list[Child] = []
    yield started
    for child in started:  # all at once: each may take a few seconds to finish what it is doing
        child.ask_to_stop()
    for child in started:
        child.stop()
    # Shown by pytest only when the test failed: what each process logged last.
    for child in started:
        print(f"----- {child.name} (exit status {child.popen.returncode}) -----\n{child.tail()}")


def test_two_web_processes_two_workers_and_two_listeners_share_the_work(
    scale_database: str, smtp: SMTPServer, children: list[Child], tmp_path: Path
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", str(tmp_path)),
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
        "CAREPORTAL_ENV": "development",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "DATABASE_URL": scale_database,
        "CACHE_URL": "dbcache://careportal_cache",
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp.port}",
        "LOG_FORMAT": "json",
        "HL7_WORKER_THREADS": "2",
        "WEB_PROCESSES": "1",
        "WEB_THREADS": "4",
    }
    # How long each part took, printed at the end (shown with -s, or when the test fails): figures, not assertions.
    started = time.monotonic()
    phases: list[tuple[str, float]] = []

    def phase(name: str) -> None:
        phases.append((name, time.monotonic() - started - sum(seconds for _, seconds in phases)))

    seeded = json.loads(
        run(
            ["shell", "--no-imports", "-c", f"from tests.deployment.seed import main; main({PATIENTS})"], env=env
        ).splitlines()[-1]
    )

    phase("migrate and seed")
    web_ports, hl7_ports = [free_port(), free_port()], [free_port(), free_port()]
    for i, port in enumerate(web_ports, 1):
        children.append(
            Child(
                f"web{i}",
                ["-m", "gunicorn", "-c", "careportal/config/gunicorn.conf.py", "careportal.config.wsgi"],
                env={**env, "WEB_PORT": str(port)},
                logs=tmp_path,
            )
        )
    for i in (1, 2):
        worker = ["manage.py", "db_worker", "--queue-name", "*", "--interval", "0.2", "--no-startup-delay"]
        children.append(Child(f"worker{i}", [*worker, "--worker-id", f"worker{i}"], env=env, logs=tmp_path))
    for i, port in enumerate(hl7_ports, 1):
        listen = ["manage.py", "hl7_listen", "--host", "127.0.0.1", "--port", str(port)]
        children.append(Child(f"hl7-{i}", listen, env=env, logs=tmp_path))

    def answers(port: int) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health/", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def accepts(port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        except OSError:
            return False
        return True

    for port in web_ports:
        wait_until(f"web on {port}", lambda port=port: answers(port), timeout=START_SECONDS, processes=children)
    for port in hl7_ports:
        wait_until(f"listener on {port}", lambda port=port: accepts(port), timeout=START_SECONDS, processes=children)

    phase("processes started")
    # --- Results through both listeners --------------------------------------------------------------------------
    patients = seeded["patients"]
    messages = [fbc_for(n=n, hospital_number=p["hospital_number"]) for n, p in enumerate(patients)]
    acks: list[tuple[int, str, str]] = []
    failures: list[str] = []
    lock = threading.Lock()

    def send(listener: int, batch: list[bytes]) -> None:
        try:
            with MLLPClient("127.0.0.1", hl7_ports[listener]) as client:
                for raw in batch:
                    code, acknowledged = ack_code(client.request(raw))
                    with lock:
                        acks.append((listener, code, acknowledged))
                        if acknowledged != control_id(raw):
                            failures.append(f"listener {listener} acknowledged {acknowledged} for {control_id(raw)}")
        except Exception as exc:
            failures.append(f"listener {listener}: {exc!r}")

    # Each listener gets its own half, and the first SENT_TWICE messages go to both at once.
    twice = messages[:SENT_TWICE]
    halves = [twice + messages[SENT_TWICE::2], twice + messages[SENT_TWICE + 1 :: 2]]
    senders = [threading.Thread(target=send, args=(i, halves[i])) for i in (0, 1)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(WORK_SECONDS)
    assert failures == []
    assert len(acks) == PATIENTS + SENT_TWICE
    assert {code for _, code, _ in acks} == {"AA"}
    assert {listener for listener, _, _ in acks} == {0, 1}

    phase("results sent and acknowledged")
    # --- Release by both workers -------------------------------------------------------------------------------
    # The scheduler enqueues the release job every 5 minutes; here the job is queued four times at once, so both
    # workers run it at the same moment over the same due reports.
    run(
        [
            "shell",
            "--no-imports",
            "-c",
            "from careportal.results.tasks import release_due_results\n"
            "for _ in range(4): release_due_results.enqueue()",
        ],
        env=env,
    )
    with psycopg.connect(scale_database.replace("postgres://", "postgresql://", 1), autocommit=True) as db:

        def one(sql: str, *params: Any) -> Any:
            row = db.execute(sql, params).fetchone()
            assert row is not None
            return row[0]

        def release_tasks_finished() -> bool:
            return (
                one(
                    "SELECT count(*) FROM django_tasks_database_dbtaskresult"
                    " WHERE task_path = 'careportal.results.tasks.release_due_results' AND status = 'SUCCESSFUL'"
                )
                == 4
            )

        wait_until("the release jobs", release_tasks_finished, timeout=WORK_SECONDS, processes=children)
        addresses = {p["email"].lower() for p in patients}

        def result_emails() -> list[str]:
            return [str(message["To"]).lower() for message in smtp.messages if str(message["To"]).lower() in addresses]

        wait_until(
            "an email to every patient",
            lambda: set(result_emails()) == addresses,
            timeout=WORK_SECONDS,
            processes=children,
        )

        # Stored once: one applied message and one report per result; the copies sent twice are duplicates.
        statuses = dict(db.execute("SELECT status, count(*) FROM hl7_inboundmessage GROUP BY status").fetchall())
        assert statuses == {"applied": PATIENTS, "duplicate": SENT_TWICE}
        assert one("SELECT count(*) FROM results_diagnosticreport") == PATIENTS
        assert one("SELECT count(DISTINCT patient_id) FROM results_diagnosticreport") == PATIENTS
        # Released once: every report released, with one "released automatically" entry each, and the release jobs'
        # own counts add up to the number of reports (each released by exactly one run, whichever worker ran it).
        assert one("SELECT count(*) FROM results_diagnosticreport WHERE released_at IS NULL") == 0
        auto_released = db.execute(
            "SELECT report_id, count(*) FROM results_reportaction WHERE kind = 'auto_released' GROUP BY report_id"
        ).fetchall()
        assert len(auto_released) == PATIENTS
        assert {count for _, count in auto_released} == {1}
        returned = db.execute(
            "SELECT return_value, worker_ids FROM django_tasks_database_dbtaskresult"
            " WHERE task_path = 'careportal.results.tasks.release_due_results'"
        ).fetchall()
        assert sum(int(value) for value, _ in returned) == PATIENTS
        # Which worker released how many, for the figures printed at the end (either may win the race).
        released_by = Counter()
        for value, workers in returned:
            released_by[workers[-1]] += int(value)
        # Notified once: one notification per patient, sent, and one email each through the SMTP server; the
        # workers sent them after the release had committed.
        notifications = db.execute(
            "SELECT user_id, status FROM notifications_notification WHERE kind = 'result_released'"
        ).fetchall()
        assert len(notifications) == PATIENTS
        assert len({user for user, _ in notifications}) == PATIENTS
        assert {status for _, status in notifications} == {"sent"}
        assert Counter(result_emails()) == dict.fromkeys(addresses, 1)

    phase("released and notified")
    # --- One session, both web processes ---------------------------------------------------------------------
    web1, web2 = (f"http://127.0.0.1:{port}" for port in web_ports)
    clinician = seeded["clinician"]
    with httpx.Client(timeout=30) as browser:  # cookies are per host, not per port: one browser, both processes

        def csrf_token(url: str) -> str:
            page = browser.get(url)
            assert page.status_code == 200, (url, page.status_code)
            found = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            assert found, f"no CSRF token on {url}"
            return found.group(1)

        before = len(smtp.messages)
        password_step = browser.post(
            f"{web1}/sign-in/",
            data={
                "csrfmiddlewaretoken": csrf_token(f"{web1}/sign-in/"),
                "login": clinician["username"],
                "password": "correct-horse-battery-staple",
            },
        )
        assert password_step.status_code == 302
        assert password_step.headers["location"] == "/sign-in/code/"
        code_email = smtp.wait_for_message(to=clinician["email"], after=before, timeout=WORK_SECONDS)
        code = re.search(r"\b(\d{6})\b", SMTPServer.body(code_email))
        assert code, "no six-digit code in the sign-in email"
        # The second step on the OTHER process: the half-finished sign-in lives in the shared session store.
        code_step = browser.post(
            f"{web2}/sign-in/code/",
            data={"csrfmiddlewaretoken": csrf_token(f"{web2}/sign-in/code/"), "action": "verify", "code": code[1]},
        )
        assert code_step.status_code == 302, code_step.text[:500]
        if code_step.headers["location"] == "/sign-in/trust-this-device/":
            code_step = browser.post(
                f"{web1}/sign-in/trust-this-device/",
                data={"csrfmiddlewaretoken": csrf_token(f"{web1}/sign-in/trust-this-device/"), "action": "skip"},
            )
        assert code_step.headers["location"] == "/staff/"
        for web in (web1, web2, web1):
            page = browser.get(f"{web}/staff/")
            assert page.status_code == 200, f"{web}: {page.status_code}"
        # Signing out on one process ends the session on both.
        signed_out = browser.post(f"{web2}/sign-out/", data={"csrfmiddlewaretoken": csrf_token(f"{web2}/staff/")})
        assert signed_out.status_code == 302
        for web in (web1, web2):
            page = browser.get(f"{web}/staff/")
            assert page.status_code == 302, f"{web}: still signed in"
            assert page.headers["location"].startswith("/sign-in/")
    phase("signed in across both web processes")
    print(" ".join(f"{name}: {seconds:.1f}s;" for name, seconds in phases), f"released by {dict(released_by)}")
