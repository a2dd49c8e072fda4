"""What the PostgreSQL benchmarks share: the server to use, a fresh database for each run, and a child process
that does the work with its own Django settings (so one benchmark's settings never mix with another's).

A benchmark module calls `run_child_on_fresh_database(...)` from `main()`, and answers `--child <args>` by doing
its work and printing one line of JSON, which comes back here as a dict.
"""

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"


def server_url() -> str:
    return os.environ.get("BENCH_POSTGRES_URL", DEFAULT_SERVER_URL)


def database_url(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def connect(url: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True, connect_timeout=3)


# The settings that decide how a large write load goes (docs/deployment.md): named in every result, so that a
# figure from PostgreSQL's defaults is never mistaken for one from a tuned server (bench/tuned_postgres.py).
REPORTED_SETTINGS = ("shared_buffers", "max_wal_size")


def server_version(server: str) -> str:
    """The server's version and its REPORTED_SETTINGS: "15.19 (shared_buffers 128MB, max_wal_size 1GB)"."""
    with connect(server) as admin:
        row = admin.execute("SHOW server_version").fetchone()
        settings = [f"{name} {admin.execute(f'SHOW {name}').fetchone()[0]}" for name in REPORTED_SETTINGS]
    version = str(row[0]).split()[0] if row else "unknown"
    return f"{version} ({', '.join(settings)})"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def run_child_on_fresh_database(
    *, script: str, database: str, args: list[str], drop_env: tuple[str, ...] = (), keep: bool = False
) -> dict[str, Any] | int:
    """Drop and create `database` on the benchmark server, run `script --child <args>` against it, and return the
    JSON it printed last; or an exit code: 0 when PostgreSQL is not reachable (the benchmark is skipped, with the
    reason printed), the child's own when it failed (its output printed). With `keep`, a database of that name that
    is already there is used as it is (the child decides whether what it holds will do)."""
    server = server_url()
    try:
        admin = connect(server)
    except Exception as error:  # any failure to connect means "skip", with the reason printed
        print(f"SKIPPED: PostgreSQL is not reachable at {server} ({type(error).__name__}).")
        print("Start PostgreSQL (user postgres, trust auth) or set BENCH_POSTGRES_URL.")
        return 0
    with admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not (keep and exists):
            admin.execute(f"DROP DATABASE IF EXISTS {database}")
            admin.execute(f"CREATE DATABASE {database}")
    env = {**os.environ, "DATABASE_URL": database_url(server, database)}
    for name in drop_env:
        env.pop(name, None)
    completed = subprocess.run(  # noqa: S603 - our own script, with our own arguments
        [sys.executable, script, "--child", *args],
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
