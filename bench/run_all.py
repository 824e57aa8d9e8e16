"""``make bench``: run every benchmark once and regenerate docs/benchmarks.md.

Each benchmark runs in its own process (one crashing or leaking does not spoil the next, and
RSS figures are not inflated by an earlier run). Benchmarks that keep their own section
(``--write-doc``) write it themselves; for the older ones that only print a table (ingest,
simulate, wire_decode) this script writes their stdout into a ``<!-- bench:NAME -->`` section.
A summary section lists what ran, how long it took and whether it met its targets, with the
machine and the load average, because these machines are shared.

    .venv/bin/python bench/run_all.py               # everything, full size (hours)
    .venv/bin/python bench/run_all.py --quick       # every benchmark's --quick, minutes
    .venv/bin/python bench/run_all.py --only fuzz,ingest
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, machine_table

BENCH = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Bench:
    """One benchmark: its script, full and quick arguments, and whether it writes its own
    docs section (else its stdout becomes the section ``name``)."""

    name: str
    script: str
    args: tuple[str, ...] = ()
    quick: tuple[str, ...] = ("--quick",)
    writes_doc: bool = True
    title: str = ""


BENCHES = [
    Bench("ingest", "ingest.py", (),
          ("--readings", "20000", "--array-readings", "100000", "--runs", "1"), writes_doc=False,
          title="Ingestion (MQTT -> collector -> InfluxDB)"),
    Bench("simulate", "simulate.py", ("--mqtt",), ("--stations", "2000", "--minutes", "2"),
          writes_doc=False, title="Simulator at city scale"),
    Bench("wire_decode", "wire_decode.py", (), ("--seconds", "0.2"), writes_doc=False,
          title="Wire decoder throughput"),
    Bench("import_speed", "import_speed.py", (), ("--quick",), writes_doc=False,
          title="CSV import (heatwatch import -> InfluxDB)"),
    Bench("detection", "detection.py"),
    Bench("detection_mqtt", "detection.py", ("--mqtt",), ("--quick", "--mqtt")),
    Bench("backtest_speed", "backtest_speed.py", writes_doc=False,
          title="Backtest throughput (event-driven replay from InfluxDB)"),
    Bench("alerts_scale", "alerts_scale.py"),
    Bench("households", "households_bench.py"),
    Bench("alerts_latency", "alerts_latency.py"),
    Bench("notify_latency", "notify_latency.py"),
    Bench("api", "api_bench.py"),
    Bench("registry_memory", "registry_memory.py"),
    Bench("fuzz", "fuzz.py"),
    Bench("soak", "soak.py"),
    Bench("broker_autosave", "broker_autosave.py"),
    Bench("real_stations", "real_stations.py", ("--plots", "run/real-plots")),
    Bench("forecast", "forecast_bench.py"),
]


def write_section(name: str, body: str) -> None:
    from alertbench import write_section as write

    write(name, body)


def run(b: Bench, quick: bool, timeout: float) -> tuple[int, float, str]:
    """(exit code, seconds, stdout) of one benchmark; its stderr goes to ours (progress)."""
    script = BENCH / b.script
    if not script.exists():
        return 127, 0.0, f"{b.script} does not exist"
    argv = [sys.executable, str(script), *(b.quick if quick else b.args)]
    if b.writes_doc and not quick:
        argv.append("--write-doc")
    start = time.monotonic()
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=timeout,
                              cwd=BENCH.parent)
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout if isinstance(exc.stdout, str) else ""
        return 124, time.monotonic() - start, out
    return proc.returncode, time.monotonic() - start, proc.stdout


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="each benchmark's --quick (docs are not touched)")
    parser.add_argument("--only", default="", help="comma-separated names: " +
                        ", ".join(b.name for b in BENCHES))
    parser.add_argument("--timeout-min", type=float, default=180.0, help="per benchmark")
    args = parser.parse_args(argv)
    wanted = {n.strip() for n in args.only.split(",") if n.strip()}
    unknown = wanted - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    rows = []
    failed = 0
    for b in BENCHES:
        if wanted and b.name not in wanted:
            continue
        print(f"== {b.name} ({b.script}) ...", file=sys.stderr, flush=True)
        load0 = os.getloadavg()[0]
        code, seconds, out = run(b, args.quick, args.timeout_min * 60)
        load1 = os.getloadavg()[0]
        print(out, flush=True)
        failed += code != 0
        verdict = {0: "ok", 124: "timed out", 127: "missing"}.get(code, f"exit {code}")
        if "| NO |" in out:
            verdict += ", some targets NOT met"
        rows.append(f"| {b.name} | {seconds / 60:.1f} min | {verdict} | "
                    f"{load0:.1f} -> {load1:.1f} |")
        if not args.quick and not b.writes_doc and code == 0:
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            write_section(b.name, f"## {b.title}\n\n`bench/{b.script} {' '.join(b.args)}`, "
                                  f"{stamp}\n\n```\n{out.strip()}\n```"
                          if b.name not in ("ingest", "import_speed", "backtest_speed") else
                          f"## {b.title}\n\n`bench/{b.script}`, {stamp}\n\n{out.strip()}")
    summary = "\n".join([
        "## Last `make bench`",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
        f"{' (--quick)' if args.quick else ''}; exit codes and targets per benchmark, "
        "with the load average before and after (the machine is shared).",
        "",
        "| benchmark | took | result | load |",
        "|---|---:|---|---|",
        *rows,
        "",
        machine_table(machine()),
    ])
    print(summary)
    if not args.quick and not wanted:
        write_section("run_all", summary)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
