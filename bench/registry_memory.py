"""Registry memory benchmark: a city's station registry, the pre-issue-13 loader against the
streamed YAML and the compact form, and the three services started on it.

Target (issue 13, item 21): under 300 MB RSS per service with a city registry (20,000
stations x 20 flats, ~31 MB of YAML, written by the simulator as bench/soak.py does); the old
loader needed ~1.5 GB. Each loader runs in its own process (peak RSS is a process's high-water
mark, and freed heap is not handed back, so one loader would spoil the next one's figures):

* loading alone: RSS after imports, peak and steady RSS, load time and ``Registry.get`` cost,
  for the old loader (``yaml.load`` of the whole document with libyaml, then a pydantic
  ``BaseModel`` per flat: its code is kept below verbatim as the baseline), the streamed YAML
  and the compact ``.jsonl`` form;
* bytes per flat of each representation (tracemalloc): the YAML document's dict, the old
  ``BaseModel``, the new slotted dataclass;
* the collector, the alert engine and the API started on the city registry (real Mosquitto and
  InfluxDB), in both forms: peak and steady RSS once each is up.

    .venv/bin/python bench/registry_memory.py                # city size, ~5 min
    .venv/bin/python bench/registry_memory.py --quick        # 200 stations (CI smoke)
    .venv/bin/python bench/registry_memory.py --write-doc    # update docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alertbench import write_section
from common import Row, machine, machine_table, table
from soak import _metrics

from alerts.settings import AlertsSettings
from alerts.settings import MetricsSettings as AlertsMetrics
from api.config import ApiKey, ApiSettings, ServerSettings
from collector.config import CollectorSettings, DeadLetterSettings, SpoolSettings
from collector.config import MetricsSettings as CollectorMetrics
from heatwatch.local.processes import Child, heatwatch_argv, write_settings
from heatwatch.local.servers import InfluxServer, MosquittoServer, free_port
from heatwatch.registry import ID_PATTERN, Meter, load_registry

TARGET_MB = 300.0
FLATS = 20
DB = "heatwatch"


# --- the pre-issue-13 loader, verbatim (the baseline) --------------------------------------


class OldMeter(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    floor: int | None = None
    top_floor: bool = False
    gable_end: bool = False
    area_m2: float | None = Field(None, gt=0)


class OldStation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    name: str = ""
    zone: str = Field("unassigned", pattern=ID_PATTERN)
    design_supply_temp: float | None = None
    design_return_temp: float | None = None
    design_flow: float | None = Field(None, gt=0)
    report_interval_s: float = Field(10.0, gt=0)
    meters: tuple[OldMeter, ...] = ()


class OldRegistry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stations: tuple[OldStation, ...] = ()
    _by_id: dict[str, OldStation] = PrivateAttr(default_factory=dict)

    @field_validator("stations")
    @classmethod
    def _unique(cls, stations: tuple[OldStation, ...]) -> tuple[OldStation, ...]:
        seen: set[str] = set()
        for st in stations:
            if st.id in seen:
                raise ValueError(f"station id {st.id!r} appears twice")
            seen.add(st.id)
        return stations

    def model_post_init(self, _context: object) -> None:
        self._by_id = {st.id: st for st in self.stations}

    def get(self, station_id: str) -> OldStation | None:
        private = self.__pydantic_private__
        assert private is not None
        by_id: dict[str, OldStation] = private["_by_id"]
        return by_id.get(station_id)


def old_load(path: Path) -> OldRegistry:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}
    return OldRegistry.model_validate(data)


# --- one loader in its own process -------------------------------------------------------------


def _status() -> dict[str, float]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line[:5]] = int(line.split()[1]) / 1024
    return out


def child(way: str, path: Path) -> None:
    """Load ``path`` the ``way`` given and print the figures as JSON (run in a fresh process)."""
    loader: Callable[[Path], Any] = old_load if way == "old" else load_registry
    gc.collect()
    base = _status()["VmRSS"]
    t0, c0 = time.perf_counter(), time.process_time()
    reg = loader(path)
    load_s, load_cpu_s = time.perf_counter() - t0, time.process_time() - c0
    gc.collect()
    st = _status()
    ids = [s.id.encode().decode() for s in reg.stations]  # new strings, as from MQTT topics
    rounds = max(1, 200_000 // len(ids))
    best = float("inf")
    for _ in range(7):  # CPU time, the fastest of 7: the machine is shared
        t0 = time.process_time()
        for _ in range(rounds):
            for sid in ids:
                reg.get(sid)
        best = min(best, time.process_time() - t0)
    get_ns = best / (rounds * len(ids)) * 1e9
    meters = sum(len(s.meters) for s in reg.stations)
    print(json.dumps({"base": base, "peak": st["VmHWM"], "steady": st["VmRSS"],
                      "load_s": load_s, "load_cpu_s": load_cpu_s, "get_ns": get_ns,
                      "stations": len(ids), "meters": meters}))


def run_child(way: str, path: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--child", way, str(path)],
                         capture_output=True, text=True, check=True, timeout=1800)
    result: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


# --- bytes per flat ----------------------------------------------------------------------------


def per_flat_bytes(n: int = 20_000) -> dict[str, float]:
    """tracemalloc bytes per flat of each representation, id string included."""
    def raw(i: int) -> dict[str, Any]:
        return {"id": f"st-{i // 20:05d}-f{i % 7}-{i % 3 + 1}", "floor": i % 7,
                "top_floor": i % 7 == 6, "gable_end": i % 3 != 1}

    makers: dict[str, Callable[[dict[str, Any]], object]] = {
        "YAML document (dict)": lambda d: d,
        "old: pydantic BaseModel": OldMeter.model_validate,
        "new: slotted pydantic dataclass": lambda d: Meter(**d),
    }
    out = {}
    for name, make in makers.items():
        gc.collect()
        tracemalloc.start()
        kept = [make(raw(i)) for i in range(n)]
        size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        out[name] = size / n
        del kept
    return out


# --- the services on the city registry ---------------------------------------------------------


def _proc_status(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            out[line[:5]] = int(line.split()[1]) / 1024
    return out


def services(registry: Path, work: Path, broker: MosquittoServer, influx: InfluxServer,
             settle_s: float) -> dict[str, dict[str, float]]:
    """Start collector, alert engine and API on ``registry`` together; once each is up (MQTT
    connected, /metrics or /healthz answering), its peak and steady RSS and seconds to up."""
    tag = registry.suffix.lstrip(".")
    ports = {name: free_port() for name in ("collector", "alerts", "api")}
    cfgs = {
        "collector": write_settings(work / f"collector-{tag}.yaml", CollectorSettings(
            mqtt=broker.settings(f"regbench-collector-{tag}"),
            influx=influx.settings(DB, transport="v1"), registry=registry,
            spool=SpoolSettings(dir=work / f"spool-{tag}"),
            dead_letter=DeadLetterSettings(file=work / f"rejected-{tag}.jsonl"),
            metrics=CollectorMetrics(host="127.0.0.1", port=ports["collector"]))),
        "alerts": write_settings(work / f"alerts-{tag}.yaml", AlertsSettings(
            mqtt=broker.settings(f"regbench-alerts-{tag}"),
            influx=influx.settings(DB, transport="v1"), registry=registry,
            state_db=work / f"alerts-{tag}.db",
            metrics=AlertsMetrics(host="127.0.0.1", port=ports["alerts"]))),
        "api": write_settings(work / f"api-{tag}.yaml", ApiSettings(
            server=ServerSettings(host="127.0.0.1", port=ports["api"]),
            keys=(ApiKey(name="bench", role="viewer",
                         sha256=hashlib.sha256(b"hw_registry_bench_key").hexdigest()),),
            alerts_db=work / f"api-alerts-{tag}.db", registry=registry,
            influx=influx.settings(DB), log_level="WARNING")),
    }
    commands = {"collector": "collect", "alerts": "alerts", "api": "api"}
    children = {name: Child(name, heatwatch_argv(commands[name], "-c", str(cfg)),
                            work / f"{name}-{tag}.log") for name, cfg in cfgs.items()}
    up: dict[str, float] = {}
    out: dict[str, dict[str, float]] = {}
    t0 = time.monotonic()
    try:
        for child in children.values():
            child.start()
        while len(up) < len(children):
            if time.monotonic() - t0 > 900:
                raise SystemExit(f"registry bench: not up in 900 s: {set(children) - set(up)}")
            for name, child in children.items():
                if not child.alive():
                    raise SystemExit(f"registry bench: {name} exited:\n{child.log_text()[-2000:]}")
                if name not in up and _is_up(name, ports[name]):
                    up[name] = time.monotonic() - t0
            time.sleep(0.5)
        time.sleep(settle_s)  # the engine's warm-up query and the API's first snapshot
        for name, child in children.items():
            assert child.proc is not None
            st = _proc_status(child.proc.pid)
            out[name] = {"peak": st["VmHWM"], "steady": st["VmRSS"], "up_s": up[name]}
    finally:
        for child in children.values():
            child.stop(timeout=30)
    return out


def _is_up(name: str, port: int) -> bool:
    if name == "api":
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False
    found = _metrics(port)
    if name == "collector":
        return found.get("heatwatch_collector_mqtt_connects_total", 0) >= 1
    return bool(found)


# --- the run -----------------------------------------------------------------------------------


def build(work: Path, stations: int) -> tuple[Path, Path, float, float]:
    """The city registry as the simulator writes it, and its compact form (seconds each)."""
    yaml_path, compact = work / "registry.yaml", work / "registry.jsonl"
    t0 = time.monotonic()
    subprocess.run(heatwatch_argv("simulate", "--scenario", "normal_week", "--seed", "7",
                              "--stations", str(stations), "--flats", str(FLATS),
                              "--write-registry", str(yaml_path), "--registry-only"),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t1 = time.monotonic()
    subprocess.run(heatwatch_argv("registry", "convert", str(yaml_path), str(compact)),
                   check=True, stdout=subprocess.DEVNULL)
    return yaml_path, compact, t1 - t0, time.monotonic() - t1


def report(stations: int, loads: dict[str, dict[str, float]], flat_bytes: dict[str, float],
           svc: dict[str, dict[str, dict[str, float]]], sizes: dict[str, float],
           convert_s: float, settle_s: float) -> str:
    old = loads["old"]
    meters = int(old["meters"])
    rows: list[Row] = []
    names = {"old": "old (whole YAML document)", "yaml": "new, YAML streamed",
             "jsonl": "new, compact .jsonl"}
    for way, r in loads.items():
        base = None if way == "old" else old
        label = names[way]
        rows += [
            Row(f"{label}: peak RSS", r["peak"], "MB", "",
                base["peak"] if base else None),
            Row(f"{label}: steady RSS", r["steady"], "MB", "",
                base["steady"] if base else None),
            Row(f"{label}: registry's share of steady RSS", r["steady"] - r["base"], "MB", "",
                base["steady"] - base["base"] if base else None),
            Row(f"{label}: load time (wall)", r["load_s"], "s", "",
                base["load_s"] if base else None),
            Row(f"{label}: load time (CPU)", r["load_cpu_s"], "s", "",
                base["load_cpu_s"] if base else None),
            Row(f"{label}: Registry.get (CPU, fastest of 7)", r["get_ns"], "ns", "",
                base["get_ns"] if base else None),
        ]
    svc_rows: list[Row] = []
    for form, by_service in svc.items():
        for name, r in by_service.items():
            svc_rows += [
                Row(f"{name} on {form}: peak RSS", r["peak"], "MB", f"< {TARGET_MB:.0f} MB",
                    ok=r["peak"] < TARGET_MB),
                Row(f"{name} on {form}: steady RSS", r["steady"], "MB", f"< {TARGET_MB:.0f} MB",
                    ok=r["steady"] < TARGET_MB),
                Row(f"{name} on {form}: up after", r["up_s"], "s"),
            ]
    flat_lines = ["| representation of one flat | bytes (id string included) |", "|---|---:|"]
    flat_lines += [f"| {k} | {v:,.0f} |" for k, v in flat_bytes.items()]
    return "\n\n".join([
        f"City registry: {stations:,} stations, {meters:,} flats; YAML {sizes['yaml']:.1f} MB, "
        f"compact {sizes['jsonl']:.1f} MB (`heatwatch registry convert`: {convert_s:.1f} s). "
        "Loading alone, each loader in its own process (baseline: the old loader, same run; "
        "'registry's share' is steady RSS minus RSS after imports):",
        table("loading the registry", rows),
        "Collector, alert engine and API started together on the registry (real Mosquitto and "
        f"InfluxDB, empty database), RSS {settle_s:.0f} s after each is up:",
        table("services on the city registry", svc_rows),
        "\n".join(flat_lines),
        machine_table(machine()),
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="200 stations (CI smoke)")
    parser.add_argument("--stations", type=int, default=None, help="default 20,000")
    parser.add_argument("--no-services", action="store_true", help="loading alone only")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--child", nargs=2, metavar=("WAY", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return 0
    stations = args.stations or (200 if args.quick else 20_000)
    settle = 2.0 if args.quick else 10.0

    def say(msg: str) -> None:
        print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)

    with tempfile.TemporaryDirectory(prefix="hw-regbench-") as tmp:
        work = Path(tmp)
        say(f"writing a registry of {stations:,} stations x {FLATS} flats")
        yaml_path, compact, _, convert_s = build(work, stations)
        sizes = {"yaml": yaml_path.stat().st_size / 1e6, "jsonl": compact.stat().st_size / 1e6}
        loads = {}
        for way, path in (("old", yaml_path), ("yaml", yaml_path), ("jsonl", compact)):
            say(f"loading: {way}")
            loads[way] = run_child(way, path)
        flat_bytes = per_flat_bytes()
        svc: dict[str, dict[str, dict[str, float]]] = {}
        if not args.no_services:
            broker, influx = MosquittoServer(work / "mosquitto"), InfluxServer(work / "influxdb")
            broker.start()
            influx.start()
            try:
                influx.create_database(DB)
                forms = [("compact .jsonl", compact), ("YAML", yaml_path)]
                for form, path in forms[:1] if args.quick else forms:  # quick: CI time
                    say(f"services on the {form} registry")
                    svc[form] = services(path, work, broker, influx, settle)
            finally:
                broker.stop()
                influx.stop()
    body = report(stations, loads, flat_bytes, svc, sizes, convert_s, settle)
    print(body)
    if args.write_doc:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_section("registry_memory", "\n\n".join([
            "## Registry memory (a city's station registry)",
            f"`bench/registry_memory.py`, {stamp}. Target (issue 13): under {TARGET_MB:.0f} MB "
            "RSS per service with a city registry; the old loader is the baseline.",
            body]))
    return 1 if "| NO |" in body else 0


if __name__ == "__main__":
    raise SystemExit(main())
