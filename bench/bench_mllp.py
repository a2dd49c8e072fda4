"""Benchmark: HL7 v2 ingestion over MLLP, against the ceiling of a minimal durable server on the same database.

1. The real listener (`manage.py hl7_listen`, in its own process) on a fresh database (PostgreSQL when reachable,
   a database named careportal_bench that this drops and re-creates; and always a SQLite file in a temporary
   directory), with 100 patients: BENCH_MLLP_MESSAGES (default 20,000) ORU^R01 messages made from the FBC sample,
   each with its own control id and filler order number, sent over 4 concurrent connections, each waiting for the
   ACK before sending the next message, as MLLP senders do. Every ACK must be AA for its own control id, and every
   message must then be in the database as applied.
2. The ceiling for each database: a minimal durable MLLP server (below, in its own process, one thread and one
   database connection per client connection) that reads each frame, INSERTs the raw message into a one-table
   journal, commits, and only then answers AA: the essential work of durable ingestion, on the same database with
   the same durability settings (SQLite in WAL mode with synchronous=NORMAL, as CarePortal's settings; PostgreSQL
   as configured). The listener's ratio is its rate over this ceiling's rate on the same database.
3. The real listener again, its interface set to acknowledge after store (docs/hl7.md, "When the ACK is sent"): each
   message is checked, stored raw as waiting, committed and acknowledged (CA: the sample's MSH-15 is AL, enhanced
   mode), no worker running meanwhile; then BENCH_MLLP_WORKERS `manage.py hl7_apply_worker --until-empty`
   processes (default 2 on PostgreSQL; SQLite has one writer, so 1) apply every stored message, timed from their
   start until the last exits. Two rows: the store-and-acknowledge rate (its ratio to the ceiling is the target),
   and the rate at which the workers drained the queue.
4. For reference, what no database costs: a bare asyncio MLLP server that reads each frame, splits out the MSH
   control id and answers AA; and the real listener with a handler that does no database work (framing, the hop
   to a worker thread and back, the count for the activity line).

The ceiling and the after-store listener (2 and 3) run BENCH_MLLP_ROUNDS times each (default 3), alternating, each
on a fresh database, and each row is the median run, its ratio the median listener over the median ceiling: this
2-CPU machine's speed drifts by up to a fifth within minutes, and with one run of each the ratio moved with it. The
workers drain the first round's messages; the after-apply listener runs once.

Prints a table (workload, messages, seconds, messages/second, ratio to the ceiling) and writes it to
bench/results/mllp.md and bench/results/mllp.json. `bench/run.py` (`make bench`) calls main().

Environment: BENCH_MLLP_MESSAGES (default 20000; 2000 for a quick run), BENCH_MLLP_CONNECTIONS (default 4),
BENCH_MLLP_WORKERS, BENCH_MLLP_ROUNDS (default 3), BENCH_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/postgres: the server to create careportal_bench on).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.hl7.mllp_client import MLLPClient, ack_code  # noqa: E402

RESULTS = ROOT / "bench" / "results"
SAMPLE = ROOT / "tests" / "hl7" / "samples" / "oru_r01_fbc_final.hl7"
# Spread over 100 patients: the after-store workers apply one patient's messages in order, so patients are the unit
# of their parallelism (a laboratory's day of results is for thousands).
PATIENTS = 100
BENCH_DATABASE = "careportal_bench"


def nhs_number(n: int) -> str:
    """A valid (modulus 11) NHS number from the 999 test range."""
    for ninth in range(10):
        stem = f"999{n:05d}{ninth}"
        check = (11 - sum(int(d) * w for d, w in zip(stem, range(10, 1, -1), strict=True)) % 11) % 11
        if check != 10:
            return f"{stem}{check}"
    raise AssertionError("unreachable")


def patients() -> list[tuple[str, str]]:
    return [(f"4100{i:04d}", nhs_number(70000 + i)) for i in range(PATIENTS)]


def make_messages(count: int) -> list[tuple[str, bytes]]:
    """(control id, message) pairs: the FBC sample, each with its own control id and orders, spread over patients."""
    segments = SAMPLE.read_bytes().rstrip(b"\r").split(b"\r")
    run = datetime.datetime.now(tz=datetime.UTC).strftime("%H%M%S")
    out = []
    for i in range(count):
        hospital_number, nhs = patients()[i % PATIENTS]
        control = f"BENCH{run}{i:07d}"
        message = []
        for segment in segments:
            fields = segment.split(b"|")
            if fields[0] == b"MSH":
                fields[9] = control.encode()
            elif fields[0] == b"PID":
                fields[3] = f"{hospital_number}^^^RRV^MR~{nhs}^^^NHS^NH".encode()
            elif fields[0] in (b"ORC", b"OBR"):
                fields[2] = f"OE-B{run}{i:07d}".encode()
                fields[3] = f"B{run}{i:07d}".encode()
            message.append(b"|".join(fields))
        out.append((control, b"\r".join(message) + b"\r"))
    return out


@dataclass
class Row:
    workload: str
    messages: int
    seconds: float
    per_second: float
    ratio: float | None = None
    # The row this one's ratio is taken against: the durable ceiling on the same database.
    ceiling: str = ""
    # Messages/s of each run, when the row is the median of several (the ceiling and the after-store listener).
    runs: list[float] = field(default_factory=list)


def median_of(runs: list[Row]) -> Row:
    """The run with the median rate (the lower of the two middle ones for an even count), carrying every run's
    rate: on a machine whose speed drifts by a fifth within minutes, one run each of the ceiling and the listener
    can put the ratio anywhere in that range."""
    ordered = sorted(runs, key=lambda row: row.per_second)
    middle = ordered[(len(ordered) - 1) // 2]
    return replace(middle, runs=[row.per_second for row in runs])


# --- The durable ceiling: store the raw message, commit, ACK -------------------------------------------------


def _durable_server(port: int, database_url: str) -> None:
    """A threaded MLLP server whose every ACK follows the commit of an INSERT of the raw message, nothing more."""
    import socketserver

    if database_url.startswith("sqlite:///"):
        import sqlite3

        path = database_url.removeprefix("sqlite:///")

        def connect():  # type: ignore[no-untyped-def]
            conn = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn

        placeholder = "?"
    else:
        import psycopg

        def connect():  # type: ignore[no-untyped-def]
            return psycopg.connect(database_url, autocommit=True)

        placeholder = "%s"
    with contextlib.closing(connect()) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw_journal")
        blob = "BLOB" if placeholder == "?" else "BYTEA"
        conn.execute(f"CREATE TABLE bench_raw_journal (id INTEGER PRIMARY KEY, received TEXT, raw {blob})")
        if placeholder == "%s":
            conn.execute("ALTER TABLE bench_raw_journal ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY")
    insert = f"INSERT INTO bench_raw_journal (received, raw) VALUES ({placeholder}, {placeholder})"  # noqa: S608

    class Handler(socketserver.StreamRequestHandler):
        def handle(self) -> None:
            conn = connect()
            buffer = b""
            try:
                while True:
                    while b"\x1c\r" not in buffer:
                        chunk = self.request.recv(65536)
                        if not chunk:
                            return
                        buffer += chunk
                    block, buffer = buffer.split(b"\x1c\r", 1)
                    message = block[block.index(b"\x0b") + 1 :]
                    received = datetime.datetime.now(tz=datetime.UTC).isoformat()
                    if placeholder == "?":
                        conn.execute("BEGIN IMMEDIATE")
                        conn.execute(insert, (received, message))
                        conn.execute("COMMIT")
                    else:
                        conn.execute(insert, (received, message))
                    msh = message.split(b"\r", 1)[0].split(b"|")
                    ack = b"MSH|^~\\&|DURABLE|BENCH|" + msh[2] + b"|" + msh[3] + b"|||ACK|1|P|2.5\rMSA|AA|" + msh[9]
                    self.request.sendall(b"\x0b" + ack + b"\r\x1c\r")
            finally:
                conn.close()

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", port), Handler) as server:
        signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
        server.serve_forever()


def bench_durable(label: str, database_url: str, messages: list[tuple[str, bytes]], connections: int) -> Row:
    port = free_port()
    command = [sys.executable, str(Path(__file__).resolve()), "--durable-server", str(port), database_url]
    with running(command, port, dict(os.environ)):
        seconds = drive(port, messages, connections)
    return Row(label, len(messages), seconds, len(messages) / seconds)


# --- Without a database: a bare MLLP server --------------------------------------------------------------------------


async def _bare_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            block = await reader.readuntil(b"\x1c\r")
            msh = block[block.index(b"\x0b") + 1 :].split(b"\r", 1)[0].split(b"|")
            ack = b"MSH|^~\\&|BARE|BENCH|" + msh[2] + b"|" + msh[3] + b"|||ACK|1|P|2.5\rMSA|AA|" + msh[9] + b"\r"
            writer.write(b"\x0b" + ack + b"\x1c\r")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _bare_server(port: int) -> None:
    server = await asyncio.start_server(_bare_connection, "127.0.0.1", port, limit=4 * 1024 * 1024)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()


# --- The listener's own cost: the real MLLPListener with a handler that does no database work ----------------


def _noop_handler(raw: bytes, *, peer: str = "", source: str = "mllp") -> bytes:
    control = raw.split(b"\r", 1)[0].split(b"|")[9]
    return b"MSH|^~\\&|CAREPORTAL|BENCH|X|Y|||ACK|1|P|2.5\rMSA|AA|" + control + b"\r"


def _noop_listener(port: int) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "careportal.config.settings.base")
    django.setup()
    from careportal.hl7.listener import MLLPListener, run_listener

    run_listener(MLLPListener(host="127.0.0.1", port=port, handler=_noop_handler))


# --- Driving a server -----------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on port {port} after {timeout} s")


@contextlib.contextmanager
def running(command: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    """Run a server process for the duration; its output (its log lines) goes to a file, shown on failure."""
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603
        try:
            wait_for_port(port, process)
            yield
        except BaseException:
            log.seek(0)
            sys.stderr.write(log.read()[-4000:].decode(errors="replace"))
            raise
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def drive(port: int, messages: list[tuple[str, bytes]], connections: int, expected: str = "AA") -> float:
    """Send the messages over `connections` connections, each waiting for every ACK (`expected`, for its own
    control id); the seconds taken."""
    shares = [messages[i::connections] for i in range(connections)]
    failures: list[str] = []
    start = threading.Barrier(connections + 1)

    def send(share: list[tuple[str, bytes]]) -> None:
        try:
            with MLLPClient("127.0.0.1", port, timeout=120) as client:
                start.wait()
                for control, message in share:
                    code, acknowledged = ack_code(client.request(message))
                    if (code, acknowledged) != (expected, control):
                        failures.append(f"{control}: {code} for {acknowledged}")
        except Exception as exc:
            failures.append(repr(exc))
            start.abort()

    threads = [threading.Thread(target=send, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if failures:
        raise RuntimeError(f"{len(failures)} messages not acknowledged {expected}, first: {failures[0]}")
    return seconds


# --- Databases ------------------------------------------------------------------------------------------------


def postgres_bench_url() -> str | None:
    """A fresh, empty careportal_bench database on the PostgreSQL server, or None when none is reachable."""
    admin_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    try:
        import psycopg

        with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DATABASE}")
    except Exception as exc:
        print(f"bench_mllp: PostgreSQL not used ({type(exc).__name__}: {exc})")
        return None
    return admin_url.rsplit("/", 1)[0] + "/" + BENCH_DATABASE


def postgres_bench_drop() -> None:
    """Drop careportal_bench once measured. DROP DATABASE waits for a checkpoint, so PostgreSQL's background writes
    of the run are finished before the SQLite run starts, on the same disk and CPUs, instead of slowing it down."""
    admin_url = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    import psycopg

    with psycopg.connect(admin_url, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DATABASE} WITH (FORCE)")


def django_env(database_url: str) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "careportal.config.settings.base",
        "CAREPORTAL_ENV": "development",
        "DATABASE_URL": database_url,
        # Each worker thread keeps its database connection, as docs/hl7.md advises for the listener.
        "CONN_MAX_AGE": "600",
        # INFO is the production setting (a line for each message not accepted, an activity line each minute).
        "LOG_LEVEL": os.environ.get("BENCH_LOG_LEVEL", "INFO"),
        "LOG_FORMAT": "json",
    }


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


def prepare_database(env: dict[str, str], ack_mode: str = "after_apply") -> None:
    manage(env, "migrate", "--no-input")
    code = (
        "import datetime; from careportal.patients.models import Patient\n"
        f"for hn, nhs in {patients()!r}:\n"
        "    Patient.objects.create(hospital_number=hn, nhs_number=nhs, given_name='Bench', family_name='Patient',"
        " birth_date=datetime.date(1970, 1, 1))\n"
        # The sample's sender, allowed from this machine: an unconfigured sender's messages are refused (AR).
        "from careportal.hl7.models import InboundInterface\n"
        "InboundInterface.objects.create(name='Bench laboratory', sending_application='WINPATH',"
        " sending_facility='RRV_LAB', message_types=['ORU^R01'], source_networks=['127.0.0.1/32', '::1/128'],"
        f" hospital_number_authority='RRV', ack_mode={ack_mode!r})\n"
    )
    manage(env, "shell", "-c", code)


def applied_count(env: dict[str, str]) -> int:
    code = (
        "from careportal.hl7.models import InboundMessage\n"
        "print(InboundMessage.objects.filter(status='applied', control_id__startswith='BENCH').count())"
    )
    return int(manage(env, "shell", "-c", code).strip().splitlines()[-1])


def waiting_count(env: dict[str, str]) -> int:
    """Messages stored and acknowledged, not applied yet: among the arrivals, or in the journal as STORED."""
    code = "from careportal.hl7.stored_services import stored_waiting_count\nprint(stored_waiting_count())"
    return int(manage(env, "shell", "-c", code).strip().splitlines()[-1])


def bench_listener(label: str, database_url: str, messages: list[tuple[str, bytes]], connections: int) -> Row:
    env = django_env(database_url)
    prepare_database(env)
    port = free_port()
    with running([sys.executable, "manage.py", "hl7_listen", "--host", "127.0.0.1", "--port", str(port)], port, env):
        seconds = drive(port, messages, connections)
    stored = applied_count(env)
    if stored != len(messages):
        raise RuntimeError(f"{label}: {stored} messages applied in the database, expected {len(messages)}")
    return Row(label, len(messages), seconds, len(messages) / seconds)


def bench_after_store(
    label: str, database_url: str, messages: list[tuple[str, bytes]], connections: int, workers: int
) -> tuple[Row, Row | None]:
    """Store and acknowledge every message (no worker running), then drain the queue with `workers` workers (none:
    the store row only)."""
    env = django_env(database_url)
    prepare_database(env, ack_mode="after_store")
    port = free_port()
    with running([sys.executable, "manage.py", "hl7_listen", "--host", "127.0.0.1", "--port", str(port)], port, env):
        seconds = drive(port, messages, connections, expected="CA")
    stored = waiting_count(env)
    if stored != len(messages):
        raise RuntimeError(f"{label}: {stored} messages stored and waiting, expected {len(messages)}")
    store_label = f"{label} (store, commit, CA; workers not running)"
    store_row = Row(store_label, len(messages), seconds, len(messages) / seconds)
    if not workers:
        return store_row, None
    command = [sys.executable, "manage.py", "hl7_apply_worker", "--until-empty", "--poll", "0.05"]
    began = time.perf_counter()
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # noqa: S603
        for _ in range(workers)
    ]
    errors = [process.communicate()[1] for process in processes]
    drained = time.perf_counter() - began
    if any(process.returncode for process in processes):
        sys.stderr.write(b"\n".join(errors).decode(errors="replace")[-4000:])
        raise RuntimeError(f"{label}: a worker failed")
    applied = applied_count(env)
    if applied != len(messages):
        raise RuntimeError(f"{label}: {applied} messages applied by the workers, expected {len(messages)}")
    workers_label = f"{workers} worker{'s' if workers > 1 else ''}"
    drain_row = Row(
        f"{label}: {workers_label} applying the stored messages (hl7_apply_worker, from start to empty queue)",
        len(messages),
        drained,
        len(messages) / drained,
    )
    return store_row, drain_row


def bench_bare(messages: list[tuple[str, bytes]], connections: int) -> Row:
    port = free_port()
    with running([sys.executable, str(Path(__file__).resolve()), "--bare-server", str(port)], port, dict(os.environ)):
        seconds = drive(port, messages, connections)
    return Row(
        "bare MLLP server, no database: read frame, split MSH, AA", len(messages), seconds, len(messages) / seconds
    )


def bench_noop_listener(messages: list[tuple[str, bytes]], connections: int) -> Row:
    port = free_port()
    env = django_env("sqlite:///:memory:")
    with running([sys.executable, str(Path(__file__).resolve()), "--noop-listener", str(port)], port, env):
        seconds = drive(port, messages, connections)
    label = "CarePortal listener, handler without database work (framing, worker thread)"
    return Row(label, len(messages), seconds, len(messages) / seconds)


def postgres_bench_url_or_fail() -> str:
    url = postgres_bench_url()
    if url is None:
        raise RuntimeError("PostgreSQL was reachable at the start of the benchmark and is not now")
    return url


def bench_database(
    database: str,
    listener: str,
    *,
    fresh: Callable[[], str],
    done: Callable[[], None],
    messages: list[tuple[str, bytes]],
    connections: int,
    workers: int,
    rounds: int,
) -> list[Row]:
    """The ceiling and the after-store listener `rounds` times each, alternating (ceiling first in even rounds,
    the listener first in odd ones), each on a fresh database, and the median of each; the workers drain the
    first round's stored messages; the after-apply listener once. Ratios are to the median ceiling."""
    ceiling_label = f"{database} ceiling: minimal server storing the raw message, commit, AA"
    ceilings: list[Row] = []
    stores: list[Row] = []
    drained: Row | None = None
    for number in range(rounds):
        for step in ("ceiling", "store") if number % 2 == 0 else ("store", "ceiling"):
            url = fresh()
            try:
                if step == "ceiling":
                    ceilings.append(bench_durable(ceiling_label, url, messages, connections))
                else:
                    store, drain = bench_after_store(
                        f"{listener}, after store", url, messages, connections, workers if drained is None else 0
                    )
                    stores.append(store)
                    drained = drained or drain
            finally:
                done()
    url = fresh()
    try:
        after_apply = bench_listener(f"{listener}, after apply (store, apply, commit, AA)", url, messages, connections)
    finally:
        done()
    ceiling = median_of(ceilings)
    ceiling.ratio, ceiling.ceiling = 1.0, ceiling.workload
    measured = [after_apply, median_of(stores)] + ([drained] if drained is not None else [])
    for row in measured:
        row.ratio, row.ceiling = row.per_second / ceiling.per_second, ceiling.workload
    return [ceiling, *measured]


def render(rows: list[Row], connections: int) -> str:
    lines = [
        f"MLLP ingestion of ORU^R01 messages over {connections} connections "
        f"({datetime.datetime.now(tz=datetime.UTC):%Y-%m-%d}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} CPUs)",
        "",
        "| workload | messages | seconds | msgs/s | ratio to the durable ceiling on the same database |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        ratio = f"{row.ratio:.3f}" if row.ratio is not None else "—"
        rate = f"{row.per_second:.0f}"
        if len(row.runs) > 1:
            rate += " (median of " + ", ".join(f"{run:.0f}" for run in row.runs) + ")"
        lines.append(f"| {row.workload} | {row.messages} | {row.seconds:.2f} | {rate} | {ratio} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    count = int(os.environ.get("BENCH_MLLP_MESSAGES", "20000"))
    connections = int(os.environ.get("BENCH_MLLP_CONNECTIONS", "4"))
    messages = make_messages(count)
    rows = [bench_bare(messages, connections), bench_noop_listener(messages, connections)]
    rounds = max(1, int(os.environ.get("BENCH_MLLP_ROUNDS", "3")))
    if postgres_bench_url() is not None:
        rows += bench_database(
            "PostgreSQL",
            "CarePortal listener → PostgreSQL",
            fresh=postgres_bench_url_or_fail,
            done=postgres_bench_drop,
            messages=messages,
            connections=connections,
            workers=int(os.environ.get("BENCH_MLLP_WORKERS", "2")),
            rounds=rounds,
        )
    with tempfile.TemporaryDirectory() as tmp:
        files = iter(range(1, 1000))
        rows += bench_database(
            "SQLite",
            "CarePortal listener → SQLite file",
            fresh=lambda: f"sqlite:///{tmp}/bench{next(files)}.sqlite3",
            done=lambda: None,
            messages=messages,
            connections=connections,
            workers=1,
            rounds=rounds,
        )
    table = render(rows, connections)
    print(table)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "mllp.md").write_text(table)
    (RESULTS / "mllp.json").write_text(
        json.dumps({"connections": connections, "rows": [asdict(row) for row in rows]}, indent=2) + "\n"
    )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare-server":
        asyncio.run(_bare_server(int(sys.argv[2])))
    elif len(sys.argv) == 4 and sys.argv[1] == "--durable-server":
        _durable_server(int(sys.argv[2]), sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "--noop-listener":
        _noop_listener(int(sys.argv[2]))
    else:
        main()


def summary(result: dict) -> list:  # list[bench.summary.Row]
    """Rows for `make bench`'s table (bench/summary.py): CarePortal's listener against the minimal server that
    stores, commits and acknowledges on the same database (the ceiling)."""
    from bench.summary import Row as SummaryRow
    from bench.summary import Target

    rows = []
    durable = Target("durable ingestion ≥ 0.5 of the ceiling", 0.5)
    by_name = {row["workload"]: row for row in result["rows"]}
    for row in result["rows"]:
        if not row.get("ceiling") or row["workload"] == row["ceiling"]:
            continue  # the ceilings themselves, and the references without a database, appear beside their rows
        ceiling = by_name[row["ceiling"]]
        rows.append(
            SummaryRow(
                workload=f"HL7 over MLLP, {result['connections']} connections: {row['workload']}",
                size=f"{row['messages']:,} ORU messages",
                figure=f"{row['per_second']:,.0f} messages/s{_median_note(row)}",
                against=f"{ceiling['per_second']:,.0f} messages/s{_median_note(ceiling)} ({row['ceiling']})",
                ratio=f"{row['ratio']:.3f}",
                # The draining rows measure the workers behind the ACK, not ingestion: no target of their own.
                target=None if "applying the stored messages" in row["workload"] else durable,
                measured=row["ratio"],
            )
        )
    return rows


def _median_note(row: dict) -> str:
    runs = row.get("runs") or []
    return f" (median of {len(runs)} runs)" if len(runs) > 1 else ""
