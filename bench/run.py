"""Run every benchmark under bench/ and print a table; `make bench` calls this.

Benchmarks measure throughput on this machine and write their latest table to bench/results/. None exist yet: the
HL7 ingestion and release-job benchmarks arrive with the test results work.
"""

import importlib
import pkgutil
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def main() -> int:
    sys.path.insert(0, str(BENCH_DIR.parent))
    names = sorted(m.name for m in pkgutil.iter_modules([str(BENCH_DIR)]) if m.name.startswith("bench_"))
    if not names:
        print("No benchmarks yet.")
        return 0
    for name in names:
        module = importlib.import_module(f"bench.{name}")
        module.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
