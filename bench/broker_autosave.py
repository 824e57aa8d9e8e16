"""What a shorter Mosquitto ``autosave_interval`` costs in throughput (issue 13, item 15).

Mosquitto writes its whole in-memory database (sessions and every queued message) to disk every
``autosave_interval`` seconds; a crash loses what arrived since the last save. The shipped
configuration saves every 5 s instead of 60 s. A save rewrites the entire queue, so its cost
grows with the backlog, and the case that matters is the one persistence is for: the collector
is down, its persistent session queues everything, stations keep publishing.

Each setting gets a fresh broker (heatwatch.local.servers, the test limits) with an offline
persistent subscriber on ``heat/#``; one publisher process sends ``--readings`` QoS 1 messages
(one reading each, the ingestion benchmark's payload) as fast as the broker acknowledges them.
Reported per setting: messages/s acknowledged, the broker's CPU seconds, the saves seen (mtime
changes of mosquitto.db), the size of the database at the end (the backlog) and how long one
save of it takes (the broker answers no one meanwhile). The publisher is a Python process, so
throughput flattens at what it can send; the broker's CPU and the save time show the headroom
used. The ratio column is against the old 60 s setting measured in the same run.

    .venv/bin/python bench/broker_autosave.py [--readings 400000] [--quick] [--write-doc]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import Row, cpu_seconds, machine, machine_table, table
from publisher import publish

from heatwatch.local.servers import MosquittoServer

SETTINGS = {
    "60 s (old)": "autosave_interval 60\n",
    "5 s (shipped)": "autosave_interval 5\n",
    "1 s": "autosave_interval 1\n",
    "every 10,000 changes": "autosave_on_changes true\nautosave_interval 10000\n",
}
BASELINE = "60 s (old)"
CHOSEN = "5 s (shipped)"
TARGET_RATIO = 0.8


@dataclass(frozen=True)
class Result:
    rate: float
    cpu_s: float
    saves: int
    db_mb: float
    save_s: float


def _offline_session(port: int) -> None:
    """A collector-like persistent session that subscribes and goes away: it queues all."""
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-collector",
                    clean_session=False, protocol=mqtt.MQTTv311)
    c.on_subscribe = lambda *_a: done.set()
    c.on_connect = lambda cl, *_a: cl.subscribe("heat/#", qos=1)
    c.connect("127.0.0.1", port)
    c.loop_start()
    if not done.wait(10):
        raise RuntimeError("no SUBACK from the broker")
    c.disconnect()
    c.loop_stop()


def _publisher(port: int, readings: int, out: mp.Queue) -> None:  # type: ignore[type-arg]
    out.put(publish("127.0.0.1", port, readings=readings, per_message=1, stations=2000,
                    client_id="bench-autosave-publisher"))


def measure(extra: str, readings: int, run_dir: Path) -> Result:
    broker = MosquittoServer(run_dir, extra_conf=extra)
    broker.start()
    db = run_dir / "data" / "mosquitto.db"
    saves: list[float] = []
    stop = threading.Event()

    def watch() -> None:
        last = 0.0
        while not stop.is_set():
            mtime = db.stat().st_mtime if db.exists() else 0.0
            if mtime != last and mtime:
                saves.append(mtime)
                last = mtime
            time.sleep(0.1)

    watcher = threading.Thread(target=watch, daemon=True)
    try:
        _offline_session(broker.port)
        assert broker.pid is not None
        cpu0 = cpu_seconds(broker.pid)
        watcher.start()
        out: mp.Queue = mp.Queue()  # type: ignore[type-arg]
        proc = mp.Process(target=_publisher, args=(broker.port, readings, out))
        proc.start()
        seconds = float(out.get(timeout=1800))
        proc.join(30)
        cpu = cpu_seconds(broker.pid) - cpu0
        stop.set()
        watcher.join(5)
        save_s = _one_save(broker.pid, db)
        db_mb = db.stat().st_size / 1e6
    finally:
        stop.set()
        broker.stop()
    return Result(readings / seconds, cpu, len(saves), db_mb, save_s)


def _one_save(pid: int, db: Path) -> float:
    """Seconds one save of the whole backlog takes (SIGUSR1 asks Mosquitto for a save; it
    writes mosquitto.db.new and renames it, so the rename is the end). The broker serves no
    client while it saves: it is single-threaded."""
    before = db.stat().st_mtime_ns if db.exists() else 0
    start = time.perf_counter()
    os.kill(pid, signal.SIGUSR1)
    while time.perf_counter() - start < 120:
        if db.exists() and db.stat().st_mtime_ns != before:
            return time.perf_counter() - start
        time.sleep(0.005)
    raise RuntimeError("Mosquitto did not save within 120 s of SIGUSR1")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--readings", type=int, default=400_000)
    parser.add_argument("--quick", action="store_true", help="20,000 readings, no target")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds over all settings, alternating their order (shared machine)")
    parser.add_argument("--write-doc", action="store_true")
    args = parser.parse_args(argv)
    readings = 20_000 if args.quick else args.readings
    rounds = 1 if args.quick else args.rounds
    runs: dict[str, list[Result]] = {name: [] for name in SETTINGS}
    with tempfile.TemporaryDirectory(prefix="bench-autosave-") as tmp:
        for k in range(rounds):
            order = list(SETTINGS) if k % 2 == 0 else list(reversed(SETTINGS))
            for name in order:
                print(f"round {k + 1}: autosave {name} ...", file=sys.stderr, flush=True)
                run_dir = Path(tmp) / f"r{k}-{list(SETTINGS).index(name)}"
                runs[name].append(measure(SETTINGS[name], readings, run_dir))
                print(f"  {runs[name][-1]}", file=sys.stderr, flush=True)
    results = {name: Result(
        rate=sum(r.rate for r in rs) / len(rs), cpu_s=sum(r.cpu_s for r in rs) / len(rs),
        saves=round(sum(r.saves for r in rs) / len(rs)), db_mb=max(r.db_mb for r in rs),
        save_s=sum(r.save_s for r in rs) / len(rs),
    ) for name, rs in runs.items()}
    base = results[BASELINE]
    rows = []
    for name, r in results.items():
        chosen = name == CHOSEN and not args.quick
        rows.append(Row(f"{name}: throughput", r.rate, "msg/s",
                        f">= {TARGET_RATIO}x of 60 s" if chosen else "", base.rate,
                        (r.rate >= TARGET_RATIO * base.rate) if chosen else None))
        rows.append(Row(f"{name}: broker CPU", r.cpu_s, "s", "", base.cpu_s))
        rows.append(Row(f"{name}: saves seen", r.saves, "saves"))
        rows.append(Row(f"{name}: database at the end", r.db_mb, "MB"))
        rows.append(Row(f"{name}: one save of that database", r.save_s * 1000, "ms"))
    text = "\n\n".join([
        f"{readings:,} QoS 1 readings into the offline persistent session of a collector, "
        f"one publisher process, a fresh broker per setting and round; means of {rounds} "
        "round(s), the settings' order reversed every other round.",
        table("Mosquitto autosave setting", rows),
        machine_table(machine()),
    ])
    print(text)
    if args.write_doc:
        from alertbench import write_section

        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        write_section("broker_autosave", "## Broker autosave interval (bench/broker_autosave.py)"
                      f"\n\n{stamp}. " + text)
    ok = all(r.ok is not False for r in rows)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
