"""REST API at city size, over real HTTP: the station list and a station's 24 h history.

Issue 5 targets: GET /api/v1/stations (20,000 stations) in < 300 ms; GET
/api/v1/stations/{id}/history for 24 h at 1-minute resolution in < 200 ms.

Everything is the real thing on loopback: Debian's InfluxDB 1.6 (``heatwatch.local.servers``) filled
with a city-size database, and the API as its own process (``heatwatch api``: uvicorn +
``create_app`` with real settings, a viewer key, a 20,000-station registry in 40 zones). The
client is httpx in this process, so every figure includes HTTP, auth, JSON and loopback TCP.

Data: every station has the last 30 min at 1-minute spacing (what the fleet snapshot reads);
a sample of stations additionally has 24 h at 10 s (8,640 points each), which the history
requests downsample to 1,440 one-minute means. Same-run baselines: the identical InfluxQL
history query sent straight to InfluxDB's /query (what the API cannot go below), and
GET /healthz (the HTTP + framework floor). The fleet snapshot is built in the background at
start (three ``GROUP BY station`` queries, seconds on InfluxDB 1.6). Issue 14 target: the first
answer to the list after a start in < 1 s: until the snapshot exists a request waits at most
``cache.ready_wait_s`` (0.5 s) and gets 503 with Retry-After. Measured: the first answer, and
(its baseline) the time until the list has data, retrying on 503 as Retry-After says.

Run: ``.venv/bin/python bench/api_bench.py`` (about 2-3 minutes), ``--quick`` for a toy size.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from alertbench import write_section
from common import Row, machine, machine_table, table

from api.config import ApiKey, ApiSettings, ServerSettings
from api.queries import history_query
from heatwatch.local.processes import Child, heatwatch_argv, write_settings
from heatwatch.local.servers import InfluxServer, free_port

DB = "heatwatch"
ZONES = 40
LINES_PER_POST = 5_000
WRITERS = 1  # concurrent POSTs: 2-4 x 10,000 lines made InfluxDB 1.6 time out writes (2 cores)
FIELDS = ("supply_temp={s:.1f},return_temp={r:.1f},pump_running=true,supply_pressure=4.2,"
          "return_pressure=3.1,flow={f}.5,makeup_flow=0.3,primary_supply_temp=95.2,"
          "primary_return_temp=52.1,heat_power={p}i,outdoor_temp=-11.5,power_ok=true")
LIST_TARGET_S = 0.300
FIRST_ANSWER_TARGET_S = 1.0
HISTORY_TARGET_S = 0.200


@dataclass(frozen=True, slots=True)
class Size:
    stations: int
    recent_min: int  # minutes of 1-minute telemetry for every station
    sampled: int  # stations with 24 h at 10 s
    requests: int  # measured requests per endpoint (after warm-up)


FULL = Size(stations=20_000, recent_min=30, sampled=50, requests=50)
QUICK = Size(stations=300, recent_min=5, sampled=3, requests=10)


def station_id(i: int) -> str:
    return f"st-{i:05d}"


def _line(i: int, t: int, k: int) -> str:
    fields = FIELDS.format(s=55 + (k % 40) * 0.25, r=40 + (k % 20) * 0.1, f=80 + i % 50,
                           p=1500 + i % 700)
    return f"telemetry,station={station_id(i)},zone=z{i % ZONES:02d} {fields} {t}"


def lines(size: Size, now: int) -> Iterator[list[str]]:
    """Line protocol in POST-sized chunks: the sampled stations' 24 h at 10 s, then 1-minute
    telemetry of the others over the last ``recent_min`` minutes (timestamps in seconds)."""
    chunk: list[str] = []
    t_end = now - now % 60 + 60
    for i in range(size.sampled):
        for k in range(8640):
            chunk.append(_line(i, t_end - 86_400 + 10 * k, k))
            if len(chunk) >= LINES_PER_POST:
                yield chunk
                chunk = []
    minute = now - now % 60
    for m in range(size.recent_min):
        t = minute - 60 * (size.recent_min - 1 - m)
        for i in range(size.sampled, size.stations):
            chunk.append(_line(i, t, m))
            if len(chunk) >= LINES_PER_POST:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def fill(influx: InfluxServer, size: Size, now: int) -> tuple[int, float]:
    """Write the database with WRITERS concurrent batched POSTs (what a collector fleet would do);
    return points written and seconds taken."""
    with httpx.Client(base_url=influx.url, timeout=120) as client:
        client.post("/query", params={"q": f"CREATE DATABASE {DB}"}).raise_for_status()

        def post(chunk: list[str]) -> int:
            body = "\n".join(chunk).encode()
            for attempt in range(8):
                resp = client.post("/write", params={"db": DB, "precision": "s"}, content=body)
                if resp.status_code == 204:
                    return len(chunk)
                print(f"write retry {attempt + 1}: {resp.status_code} {resp.text[:80]}",
                      file=sys.stderr)
                # InfluxDB 1.6 answers 500 {"error":"timeout"} when its write path is saturated
                # (the points are usually stored anyway); a re-post overwrites the same points.
                if resp.status_code != 500 or "timeout" not in resp.text:
                    break
                time.sleep(1.0 + attempt)
            raise RuntimeError(f"InfluxDB write: {resp.status_code} {resp.text[:200]}")

        t0 = time.perf_counter()
        with ThreadPoolExecutor(WRITERS) as pool:
            written = sum(pool.map(post, lines(size, now)))
        return written, time.perf_counter() - t0


def fresh(influx: InfluxServer, size: Size) -> None:
    """One reading of every station now, right before the API starts: the fill takes minutes
    on a busy machine, after which the 30 minutes of data would be older than the offline
    threshold (max(3 x 10 s, 60 s)) and every station would show offline."""
    t = int(time.time())
    with httpx.Client(base_url=influx.url, timeout=120) as client:
        for lo in range(0, size.stations, LINES_PER_POST):
            body = "\n".join(_line(i, t, 0)
                              for i in range(lo, min(lo + LINES_PER_POST, size.stations)))
            client.post("/write", params={"db": DB, "precision": "s"},
                        content=body.encode()).raise_for_status()


def _iso(t: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def timed(n: int, warmup: int, call: Callable[[int], None]) -> list[float]:
    """Seconds of ``n`` calls after ``warmup`` unmeasured ones (caches, connection, JIT-free
    Python paths warmed the same way for every endpoint)."""
    for k in range(warmup):
        call(k)
    out = []
    for k in range(n):
        t0 = time.perf_counter()
        call(k)
        out.append(time.perf_counter() - t0)
    return out


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 stations (CI smoke)")
    parser.add_argument("--write-doc", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args(argv)
    size = QUICK if args.quick else FULL
    key = "hw_" + secrets.token_urlsafe(32)
    headers = {"Authorization": f"Bearer {key}"}
    now = int(time.time())

    with tempfile.TemporaryDirectory(prefix="hw-apibench-") as tmp:
        work = Path(tmp)
        influx = InfluxServer(work / "influx")
        api = Child("api", heatwatch_argv("api", "-c", str(work / "api.yaml")), work / "api.log")
        influx.start()
        try:
            points, fill_s = fill(influx, size, now)
            fresh(influx, size)
            registry = {"stations": [{"id": station_id(i), "zone": f"z{i % ZONES:02d}",
                                      "name": f"Station {i}"} for i in range(size.stations)]}
            (work / "stations.yaml").write_text(json.dumps(registry))  # JSON is YAML
            port = free_port()
            write_settings(work / "api.yaml", ApiSettings(
                server=ServerSettings(host="127.0.0.1", port=port),
                keys=(ApiKey(name="bench", role="viewer",
                             sha256=hashlib.sha256(key.encode()).hexdigest()),),
                alerts_db=work / "alerts.db",
                registry=work / "stations.yaml",
                influx=influx.settings(DB),
                log_level="WARNING",
            ))
            api.start()
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(base_url=base, headers=headers, timeout=120) as c:
                t_start = time.perf_counter()
                while True:
                    if not api.alive():
                        raise SystemExit(f"API exited: {api.log_text()}")
                    try:
                        if c.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    if time.perf_counter() - t_start > 60:
                        raise SystemExit("API not answering /healthz within 60 s")
                    time.sleep(0.05)
                up_s = time.perf_counter() - t_start
                # The snapshot build started at start-up: the first request waits for it at
                # most cache.ready_wait_s, then 503 + Retry-After; retry as a client would.
                t0 = time.perf_counter()
                first = c.get("/api/v1/stations")
                first_answer_s = time.perf_counter() - t0
                first_code = first.status_code
                retries = 0
                while first.status_code == 503 and "Retry-After" in first.headers:
                    retries += 1
                    time.sleep(min(float(first.headers["Retry-After"]), 1.0))
                    first = c.get("/api/v1/stations")
                first.raise_for_status()
                first_s = time.perf_counter() - t0
                body = first.json()
                if body["total"] != size.stations or len(body["items"]) != size.stations:
                    raise SystemExit(f"list: total {body['total']}, items {len(body['items'])}")
                online = sum(s["status"] == "online" for s in body["items"])
                list_bytes = len(first.content)

                def get_list(_k: int) -> None:
                    r = c.get("/api/v1/stations")
                    r.raise_for_status()
                    if len(r.content) < list_bytes // 2:
                        raise SystemExit("list shrank")

                sample = [station_id(i) for i in range(size.sampled)]
                npts: list[int] = []

                t_end = now - now % 60 + 60  # the 24 h of 10 s data: 1,440 one-minute buckets
                window = {"start": _iso(t_end - 86_400), "end": _iso(t_end)}

                def get_history(k: int) -> None:
                    r = c.get(f"/api/v1/stations/{sample[k % len(sample)]}/history",
                              params={"field": "supply_temp", "resolution": "1m", **window})
                    r.raise_for_status()
                    npts.append(len(r.json()["points"]))

                def get_health(_k: int) -> None:
                    c.get("/healthz").raise_for_status()

                q = history_query("supply_temp", "mean", 60)

                def raw_history(k: int) -> None:
                    params = {"station": sample[k % len(sample)],
                              "start": (t_end - 86_400) * 10**9, "end": t_end * 10**9}
                    r = c.post(f"{influx.url}/query", data={
                        "db": DB, "q": q, "params": json.dumps(params), "epoch": "ms"})
                    r.raise_for_status()

                n = size.requests
                health = timed(n, 5, get_health)
                raw = timed(n, 5, raw_history)
                hist = timed(n, 5, get_history)
                lst = timed(n, 3, get_list)
                metrics = c.get("/metrics").text
        finally:
            api.stop(timeout=30)
            influx.stop()

    refreshes = [ln for ln in metrics.splitlines() if "cache" in ln and not ln.startswith("#")]
    rows = [
        Row("InfluxDB fill", points / fill_s, "points/s"),
        Row("API start -> /healthz answers", up_s * 1000, "ms"),
        Row(f"first answer to the list after start (HTTP {first_code})", first_answer_s * 1000,
            "ms", "< 1 s", first_s * 1000, first_answer_s < FIRST_ANSWER_TARGET_S),
        Row(f"first list with data (the snapshot build; {retries} retries on 503)",
            first_s * 1000, "ms"),
        Row("GET /healthz p50 (HTTP floor)", statistics.median(health) * 1000, "ms"),
        Row("raw InfluxQL history on /query p50", statistics.median(raw) * 1000, "ms"),
        Row("raw InfluxQL history on /query p95", pct(raw, 95) * 1000, "ms"),
        Row("history 24 h @ 1 min p50", statistics.median(hist) * 1000, "ms", "",
            statistics.median(raw) * 1000),
        Row("history 24 h @ 1 min p95", pct(hist, 95) * 1000, "ms", "< 200 ms",
            pct(raw, 95) * 1000, pct(hist, 95) < HISTORY_TARGET_S),
        Row("history 24 h @ 1 min max", max(hist) * 1000, "ms"),
        Row(f"list of {size.stations:,} stations p50", statistics.median(lst) * 1000, "ms", "",
            statistics.median(health) * 1000),
        Row(f"list of {size.stations:,} stations p95", pct(lst, 95) * 1000, "ms", "< 300 ms",
            statistics.median(health) * 1000, pct(lst, 95) < LIST_TARGET_S),
        Row(f"list of {size.stations:,} stations max", max(lst) * 1000, "ms"),
        Row("list response size", list_bytes / 1e6, "MB"),
    ]
    head = (f"{size.stations:,} stations in {ZONES} zones, {points:,} points "
            f"({size.stations - size.sampled:,} stations x {size.recent_min} min at 1 min + "
            f"{size.sampled} stations x 24 h at 10 s, then one fresh reading of every station "
            f"just before the API starts); {n} measured requests per endpoint after "
            f"a warm-up, sequential, one keep-alive connection. The full list is one request "
            f"(`limit` defaults to its maximum, 100,000, so no paging is needed); "
            f"{online:,} stations online in it. History: a fixed 24 h window ending at the "
            f"last minute written, points per response: {min(npts)}-{max(npts)}. "
            f"Baseline column: the first answer against the time until the list has data "
            f"(the snapshot build), history rows against the raw InfluxQL query, list rows "
            f"against /healthz.")
    report = "\n".join([machine_table(machine()), "", table("API at city size", rows), "", head,
                        "", "API cache metrics at the end:", "```",
                        *(refreshes or ["(none exported)"]), "```"])
    print(report)
    if args.write_doc:
        write_section("api", DOC_HEAD + "\n" + report)
    return 0


DOC_HEAD = """## REST API at city size (bench/api_bench.py)

`.venv/bin/python bench/api_bench.py --write-doc`: InfluxDB 1.6 filled with 20,000 stations
(batched line protocol, 5,000 lines per POST), the API as its own process (`heatwatch api`,
uvicorn, a viewer key, default cache settings: snapshot fresh 5 s, stale-while-revalidate
after that), measured over loopback HTTP with httpx. Targets (issue 5): list of 20,000
stations < 300 ms, 24 h history at 1 min < 200 ms (judged on p95). The whole list is one
request: `limit` defaults to its maximum (100,000), so a client pages only if it wants to.

What the figures say (the run below was on a shared 2-core machine, other benchmarks and test
suites running next to it, load average 3-8):

* **List**: served from the snapshot, which keeps the unfiltered list serialised, so a
  request is the transfer of ~8 MB over loopback plus the client reading it; no InfluxDB
  query. The cost sits in the snapshot build instead: three `GROUP BY station` queries over
  20,000 series: 6-9 s on a quiet machine (docs/api.md), over 20 s on a busy one. Profiled
  query by query on 20,000 stations: the statement with twelve `last()` selectors takes
  ~90% of it (17.6 s against 1.6-1.9 s for a one-field `last()` on the same busy machine);
  InfluxDB 1.6 cannot answer any `GROUP BY station` over 20,000 series in under 1 s here,
  so the first answer is not made fast but bounded: **until the first snapshot exists a
  request waits at most `cache.ready_wait_s` (0.5 s) and gets 503 with `Retry-After`** (the
  operator page shows "data source unavailable" and retries). Row "first answer" is that
  (issue 14: < 1 s), "first list with data" is the build a client retrying on 503 waits for.
  After that, refreshes happen in the background (stale-while-revalidate); the snapshot stays
  fresh for 5 s or twice its last build time, so this run's measured requests all hit it.
* **History**: the raw InfluxQL query (one series, 8,640 points into 1,440 buckets) is the
  floor; the API adds ~20 ms at the median: InfluxDB's JSON parsed in the API, 1,440 pydantic
  points built, validated again as the response model and serialised (5-10 ms of that
  in-process, measured apart). The p95/max tail is not in the raw query of the same run; it
  was not isolated further (machine load and garbage collection in the API process, which
  holds the 20,000-station snapshot, are the candidates).
* **Fill**: InfluxDB 1.6 takes 10-12-field points from 20,000 new series slowly; 2-4
  concurrent 10,000-line POSTs made it answer `500 {"error":"timeout"}`, hence one writer and
  5,000-line POSTs (with a retry on that timeout).
"""


if __name__ == "__main__":
    raise SystemExit(main())
