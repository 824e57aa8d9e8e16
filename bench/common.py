"""Helpers every benchmark shares: machine facts, RSS/CPU readings, and table printing.

Benchmarks print a table of figures, each next to its target and a baseline measured in the
same run, because these machines are shared and noisy: a ratio against a same-run baseline means
something, an absolute number alone does not.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Row:
    name: str
    value: float
    unit: str
    target: str = ""
    baseline: float | None = None
    ok: bool | None = None

    @property
    def ratio(self) -> str:
        if self.baseline is None or self.baseline == 0:
            return ""
        return f"{self.value / self.baseline:.2f}x"


def machine() -> dict[str, str]:
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpu": f"{os.cpu_count()} cores ({platform.machine()})",
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "python": platform.python_version(),
        "mosquitto": _version(["mosquitto", "-h"], 0),
        "influxdb": _version(["influxd", "version"], 0),
    }


def _version(cmd: list[str], line: int) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "not found"
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[line].strip() if text else "unknown"


def rss_mb(pid: int) -> float:
    """Resident set size of a process, from /proc (no psutil needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def table(title: str, rows: list[Row]) -> str:
    head = f"| {title} | value | unit | target | baseline | ratio | met |"
    lines = [head, "|---|---:|---|---|---:|---:|---|"]
    for r in rows:
        base = f"{r.baseline:,.0f}" if r.baseline is not None else ""
        met = "" if r.ok is None else ("yes" if r.ok else "NO")
        lines.append(
            f"| {r.name} | {r.value:,.1f} | {r.unit} | {r.target} | {base} | {r.ratio} | {met} |"
        )
    return "\n".join(lines)


def machine_table(info: dict[str, str]) -> str:
    return "\n".join(["| machine | |", "|---|---|"] + [f"| {k} | {v} |" for k, v in info.items()])
