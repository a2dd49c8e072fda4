"""Locust users for the web benchmark, and their runner: bench/bench_web.py runs

    python bench/locust_web.py <target> <host> <clients.json> <seconds> <hash count file>

which prints one line of JSON: for each request name, its count, failures, requests/s and p50/p95/p99 in ms.
Locust runs as a library here, timed by the wall clock: its own `--run-time` timer (a gevent timer) fired after a
fraction of a second on this machine.

The target picks what the 16 closed-loop clients do: `bare` (the bare Django view), `results` (the signed-in
"test results" page), `fhir` (GET /fhir/r4/Observation?patient=…&_count=50&_sort=-date with a bearer token) or
`attack` (the results page, while attackers post sign-in attempts against random usernames at a fixed total rate).
Every client is a FastHttpUser (geventhttpclient) rather than an HttpUser (python-requests): the load generator
shares the machine's two cores with the server and PostgreSQL, and a FastHttpUser costs a fraction of the CPU per
request, so less of what the rows measure is locust's own work.
The clients file holds each client's session cookie, bearer token and patient id, made by the
benchmark for synthetic patients: nothing here is anybody's real data.
"""

from gevent import monkey

monkey.patch_all()

import itertools  # noqa: E402 - after gevent's patching, as locust requires
import json  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
from locust import FastHttpUser, constant, constant_throughput, task  # noqa: E402
from locust.env import Environment  # noqa: E402

TARGET = sys.argv[1] if __name__ == "__main__" else "bare"
CLIENTS = json.loads(Path(sys.argv[3]).read_text()) if __name__ == "__main__" else []
LEGITIMATE_USERS = int(os.environ.get("BENCH_WEB_USERS", "16"))
ATTACKERS = int(os.environ.get("BENCH_WEB_ATTACKERS", "10"))
ATTEMPTS_PER_SECOND = float(os.environ.get("BENCH_WEB_ATTEMPTS_PER_SECOND", "50"))
_next_client = itertools.count()
_CSRF_FIELD = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class PatientClient(FastHttpUser):
    """One of the 16 clients: a signed-in patient (or their app), one request after another, no think time."""

    fixed_count = LEGITIMATE_USERS
    wait_time = constant(0)

    def on_start(self) -> None:
        self.client_data = CLIENTS[next(_next_client) % len(CLIENTS)] if CLIENTS else {}
        # The session cookie goes in a Cookie header of our own on each request (FastHttpUser's cookie jar leaves a
        # request's own Cookie header as it is); the server keeps the session's key, so it never needs replacing.
        self.session_header = (
            {"Cookie": f"{self.client_data['cookie_name']}={self.client_data['session']}"}
            if TARGET in ("results", "attack")
            else {}
        )

    @task
    def request(self) -> None:
        if TARGET == "bare":
            self.client.get("/bench/bare/", name="bare view")
        elif TARGET == "fhir":
            self.client.get(
                f"/fhir/r4/Observation?patient={self.client_data['patient']}&_count=50&_sort=-date",
                headers={"Authorization": f"Bearer {self.client_data['token']}", "Accept": "application/fhir+json"},
                name="FHIR Observation search",
            )
        else:
            with self.client.get(
                "/test-results/",
                headers=self.session_header,
                name="test results page",
                allow_redirects=False,
                catch_response=True,
            ) as response:
                # A page that bounced to the sign-in page (a redirect, not followed) is a failure, not a fast success.
                if response.status_code != 200:
                    response.failure(f"not the results page ({response.status_code})")


class Attacker(FastHttpUser):
    """Credential stuffing: sign-in attempts against random usernames with random passwords, at a fixed total rate,
    from one address (the attacker's)."""

    fixed_count = ATTACKERS if TARGET == "attack" else 0
    wait_time = constant_throughput(ATTEMPTS_PER_SECOND / max(ATTACKERS, 1))

    def on_start(self) -> None:
        page = self.client.get("/sign-in/", name="attack: sign-in form")
        match = _CSRF_FIELD.search(page.text)
        self.csrf_token = match.group(1) if match else ""

    @task
    def attempt(self) -> None:
        username = f"stuffed{random.getrandbits(40):x}"
        with self.client.post(
            "/sign-in/",
            data={"csrfmiddlewaretoken": self.csrf_token, "login": username, "password": f"Pw-{random.random()}"},
            headers={"Referer": f"{self.host}/sign-in/"},
            name="attack: sign-in attempt",
            catch_response=True,
        ) as response:
            # Refused attempts (form error 200, or 429 too many) are the expected outcome: count them all as done.
            response.success()


def run(*, host: str, seconds: float, hash_count_file: str = "") -> dict[str, dict]:
    users = [PatientClient, *([Attacker] if TARGET == "attack" else [])]
    for user_class in users:
        user_class.host = host
    environment = Environment(user_classes=users)
    runner = environment.create_local_runner()
    # gevent's loop keeps the time of its last iteration: after the slow imports above it is seconds behind, and
    # timers (request timeouts, sleeps) would fire at once. Bring it up to date before anything waits.
    gevent.get_hub().loop.update_now()
    total_users = LEGITIMATE_USERS + (ATTACKERS if TARGET == "attack" else 0)
    runner.start(total_users, spawn_rate=total_users)
    while runner.user_count < total_users:
        gevent.sleep(0.05)
    # Warm up until every client has had a few answers: each server process compiles templates and plans its
    # first queries on its first requests, which take seconds, not milliseconds.
    started = time.monotonic()
    while environment.stats.total.num_requests < 4 * total_users and time.monotonic() - started < 300:
        gevent.sleep(0.1)
    environment.stats.reset_all()  # time the steady state only, not the ramp or the warm-up
    if hash_count_file:
        Path(hash_count_file).write_bytes(b"")  # count the hashes of the timed attempts only
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        gevent.sleep(0.1)
    elapsed = time.monotonic() - started
    runner.quit()
    return {
        entry.name: {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "per_second": round(entry.num_requests / elapsed, 1),
            "p50_ms": entry.get_response_time_percentile(0.50),
            "p95_ms": entry.get_response_time_percentile(0.95),
            "p99_ms": entry.get_response_time_percentile(0.99),
        }
        for entry in environment.stats.entries.values()
    }


if __name__ == "__main__":
    print(json.dumps(run(host=sys.argv[2], seconds=float(sys.argv[4]), hash_count_file=sys.argv[5])))
