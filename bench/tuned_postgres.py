"""A PostgreSQL server of the benchmark's own, set up as docs/deployment.md tells a large trust to set up theirs.

`BENCH_POSTGRES=tuned make bench ONLY=ingest` runs a benchmark against it instead of the shared server at
127.0.0.1:5432, whose settings are PostgreSQL's defaults (128 MB of shared_buffers, a checkpoint every 1 GB of
WAL) because the test suite and CI use it. bench/run.py starts it (`initdb` into a temporary folder, then `pg_ctl
start` on a free port, with the settings below worked out from this machine's memory), points BENCH_POSTGRES_URL at
it for every benchmark of the run, and stops it and deletes its folder at the end. Each benchmark's results name the
server's settings (pg_support.server_version).

It uses the PostgreSQL binaries of the installed server (`pg_config --bindir`, or Debian's
/usr/lib/postgresql/<version>/bin); run as root, it runs them as the `postgres` user, since initdb refuses root.
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def settings_for(memory_bytes: int) -> dict[str, str]:
    """docs/deployment.md, "PostgreSQL server settings for a large trust": a quarter of the memory for
    shared_buffers, three quarters as effective_cache_size, 16 GB of WAL between checkpoints, 15 minutes."""
    megabytes = memory_bytes // (1024 * 1024)
    return {
        "shared_buffers": f"{megabytes // 4}MB",
        "effective_cache_size": f"{megabytes * 3 // 4}MB",
        "max_wal_size": "16GB",
        "checkpoint_timeout": "15min",
        "wal_compression": "on",
        "random_page_cost": "1.1",
        # What the shared server also has on Debian, so that only the settings above differ.
        "listen_addresses": "'127.0.0.1'",
        "max_connections": "100",
    }


def _memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def _bindir() -> Path:
    pg_config = shutil.which("pg_config")
    if pg_config:
        printed = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)  # noqa: S603
        found = Path(printed.stdout.strip())
        if (found / "initdb").exists():
            return found
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not debian:
        raise SystemExit("BENCH_POSTGRES=tuned: no PostgreSQL server binaries (initdb) found on this machine.")
    return debian[-1].parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _run_as_server_user(command: list[str], *, check: bool = True) -> None:
    """Run a PostgreSQL binary of ours, with our own arguments: as `postgres` when we are root."""
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    subprocess.run(command, check=check, capture_output=True)  # noqa: S603


@contextlib.contextmanager
def tuned_server() -> Iterator[str]:
    """Start the tuned server; yield its URL (user postgres, trust auth on 127.0.0.1); stop it and delete it."""
    bindir = _bindir()
    folder = Path(tempfile.mkdtemp(prefix="careportal-bench-postgres-"))
    data = folder / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, user="postgres")
    try:
        _run_as_server_user([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        with (data / "postgresql.conf").open("a") as conf:
            conf.write("\n# bench/tuned_postgres.py: docs/deployment.md's settings for a large trust\n")
            for name, value in {**settings_for(_memory_bytes()), "port": str(port)}.items():
                conf.write(f"{name} = {value}\n")
            conf.write(f"unix_socket_directories = '{folder}'\n")
        _run_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(folder / "server.log"), "-w", "start"])
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/postgres"
        finally:
            _run_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], check=False)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
