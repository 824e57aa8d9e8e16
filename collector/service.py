"""The collector: MQTT in, InfluxDB out, and no reading lost in between.

Two threads after ``on_message``. The worker decodes, accounts and batches; the flusher makes
each batch durable and acks it. They overlap: while InfluxDB takes one batch (the HTTP wait
releases the GIL), the next is being decoded. A batch is handed over when it reaches
``batch.size`` lines, when it holds a quarter of the Receive Maximum window of unacked messages
(at most three batches are unacked at once: one being written, one waiting, one being filled,
so the broker never stalls waiting for acks), or after ``batch.flush_interval``. "Durable" means
written to InfluxDB, or appended and fsynced to the spool; only then are its messages acked.

Ordering: while the spool holds anything, new batches are appended behind it rather than written
directly, and the flusher replays the spool head first, so readings reach InfluxDB in arrival
order. When the spool is full the flusher holds the batch unacked, the hand-over blocks, the
worker stops taking messages, the Receive Maximum window fills and the broker keeps the rest
(back-pressure, never a drop).
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from collector.config import CollectorSettings
from collector.deadletter import DeadLetter
from collector.fieldtypes import FieldTypes, resolve_conflicts, stored_field_types
from collector.metrics import Metrics
from collector.seqtrack import NOTHING, SeqTracker
from collector.spool import Spool, SpoolError, SpoolFull
from collector.summary import SummaryLog
from heatwatch.influx import (
    InfluxClient,
    InfluxUnavailable,
    RetryableWriteError,
    WriteError,
    write_or_quarantine,
)
from heatwatch.mqtt_source import Inbound, MqttSource, topic_filters
from heatwatch.registry import load_registry
from heatwatch.selfstats import SelfStatsReporter
from heatwatch.wire import Decoded, Decoder, Kind, lines_for

__all__ = ["Collector"]

log = logging.getLogger("collector")

# Errors a buggy decoder could raise on hostile input; caught so one message cannot stop the
# worker (which would stall every ack). The message is dead-lettered instead.
_DECODER_BUGS = (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError)


@dataclass
class _Batch:
    messages: list[Inbound] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)
    stored: bool = False  # lines durable; only the dead-letter flush is left before the ack


class Collector:
    """``start()`` / ``stop(timeout)`` / ``run_forever()`` / ``stats()``; see module docstring."""

    def __init__(self, settings: CollectorSettings) -> None:
        self.settings = settings
        b = settings.batch
        self.metrics = Metrics()
        self.registry = load_registry(settings.registry)
        v = settings.validation
        # Stored field types, learned at start (SHOW FIELD KEYS) and shared with the decoder.
        self.field_types: FieldTypes = {}
        self._types_ready = threading.Event()
        self.decoder = Decoder(
            prefix=settings.mqtt.prefix, max_payload=v.max_payload, max_future_s=v.max_future_s,
            max_past_s=v.max_past_s, max_extra_fields=v.max_extra_fields,
            max_extra_names=v.max_extra_names, field_types=self.field_types,
        )
        self.writer = InfluxClient(settings.influx, create_database=True)
        sp = settings.spool
        self.spool = Spool(
            sp.dir, max_bytes=sp.max_bytes, segment_bytes=sp.segment_bytes,
            alarm_ratio=sp.alarm_ratio,
        )
        self.source = MqttSource(
            settings.mqtt,
            filters=topic_filters(settings.mqtt.prefix, settings.subscription.shared_group),
            stale_filters=(
                topic_filters(settings.mqtt.prefix, None)
                if settings.subscription.shared_group else []
            ),
            receive_maximum=b.receive_maximum,
            max_queued_bytes=b.max_queued_bytes,
            protocol=settings.subscription.protocol,
            session_expiry=settings.subscription.session_expiry,
            on_connection=self._connection_changed,
        )
        dl = settings.dead_letter
        publish = self.source.publish if dl.publish else None
        self.deadletter = DeadLetter(dl.file, publish, f"{settings.mqtt.prefix}/_rejected",
                                     max_bytes=dl.max_bytes, keep=dl.keep)
        # In a shared-subscription group the broker deals one station's messages out to every
        # collector in turn, so each sees holes in every seq that are not losses: counting them
        # would raise false gap alarms. Gap accounting needs the whole stream (docs/scaling.md).
        self.seq: SeqTracker | None = SeqTracker() if settings.subscription.counts_seq else None
        self.summary = SummaryLog(log, settings.metrics.log_interval)
        self.metrics_port = 0
        self._max_messages = max(1, b.receive_maximum // 4)
        self._stop = threading.Event()
        self._done = threading.Event()
        self._worker: threading.Thread | None = None
        self._flusher: threading.Thread | None = None
        # Worker -> flusher; one waiting batch at most, so back-pressure reaches the worker.
        self._handoff: queue.Queue[_Batch | None] = queue.Queue(maxsize=1)
        self._overruns_seen = 0
        self._flusher_holding = False  # a batch is held (spool full): stop waits no longer
        self._down_until = 0.0
        self._retry_delay = sp.retry_min_delay
        self._influx_down = False
        self._spool_full = False
        self._deadletter_failing = False
        self._spool_corrupt_seen = 0
        self._unregistered: set[str] = set()
        self.crashed = False
        self.selfstats: SelfStatsReporter | None = None
        self.counts: dict[str, int] = dict.fromkeys(
            ("messages", "readings", "rejected", "dropped_fields", "field_conflicts",
             "extra_fields_capped", "stored", "spooled",
             "replayed", "refused", "acked", "seq_gaps", "seq_duplicates", "unregistered",
             "write_errors"), 0,
        )

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        m = self.settings.metrics
        self.metrics_port = self.metrics.serve(m.host, m.port)
        self._update_spool_gauges()
        ix = self.settings.influx
        target = ix.database if ix.transport == "v1" else f"{ix.org}/{ix.bucket}"
        log.info(
            "collector starting: InfluxDB %s %s (%s), spool %s, metrics %s",
            ix.transport, ix.url, target, self.spool.directory,
            f"http://{m.host}:{self.metrics_port}/metrics" if self.metrics_port else "off",
        )
        if self.seq is None:
            log.info("seq gap accounting is off (subscription.seq_accounting, shared group %s)",
                     self.settings.subscription.shared_group)
        if self.spool:
            log.info("spool %s holds %d bytes from before: replaying first",
                     self.spool.directory, self.spool.pending_bytes)
        self._flusher = threading.Thread(
            target=self._run_flusher, name="collector-flusher", daemon=True
        )
        self._flusher.start()
        self._worker = threading.Thread(target=self._run, name="collector-worker", daemon=True)
        self._worker.start()
        self.source.start()
        if self.settings.metrics.selfstats_interval > 0:
            self.selfstats = SelfStatsReporter(
                # Written directly, not through batch and spool: they are not readings (the
                # stored-readings counter must not count them) and a snapshot lost while
                # InfluxDB is down only thins the graph, the counters themselves add up.
                self.metrics.registry, self.writer.write, service="collector",
                errors=(WriteError,),
                instance=self.settings.mqtt.client_id,
                interval=self.settings.metrics.selfstats_interval,
            )
            self.selfstats.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop consuming, flush and ack the current batch, disconnect. Unflushed messages
        stay unacked, so the broker delivers them again next time."""
        if self.selfstats is not None:
            self.selfstats.stop(final_report=True)  # while the writer is still open
            self.selfstats = None
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in (self._worker, self._flusher):
            if thread is not None:
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.error("%s did not finish within %.0f s; its batch stays unacked",
                              thread.name, timeout)
        self.source.stop()
        self.writer.close()
        self.spool.close()
        self.summary.maybe_log(force=True)
        self.metrics.shutdown()

    def run_forever(self) -> int:
        """Run until SIGTERM/SIGINT; returns 0 after a clean stop, 1 if the worker died."""
        wake = threading.Event()

        def handler(signum: int, frame: FrameType | None) -> None:
            log.info("signal %d: stopping", signum)
            wake.set()

        previous = {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.start()
            try:
                while not wake.wait(0.5) and not self._done.is_set():
                    pass
            finally:
                self.stop()
        finally:
            for s, h in previous.items():
                signal.signal(s, h)
        return 1 if self.crashed else 0

    def stats(self) -> dict[str, Any]:
        """A snapshot for tests and status displays: cumulative counts (``messages``,
        ``readings``, ``rejected``, ``stored``, ``spooled``, ``replayed``, ``refused``,
        ``acked``, ``seq_gaps``, ...) plus the current spool, connection and queue state."""
        snap: dict[str, Any] = dict(self.counts)
        snap.update(
            spool_bytes=self.spool.size_bytes,
            spool_pending_bytes=self.spool.pending_bytes,
            spool_fill_ratio=self.spool.fill_ratio,
            spool_full=self._spool_full,
            influx_down=self._influx_down,
            connected=self.source.connected,
            queue_depth=self.source.queue.qsize(),
            unregistered_stations=sorted(self._unregistered),
            dead_lettered=self.deadletter.written,
            deadletter_failing=self._deadletter_failing,
            spool_corrupt_records=self.spool.corrupt_records,
        )
        return snap

    def _connection_changed(self, up: bool) -> None:
        (self.metrics.connects if up else self.metrics.disconnects).inc()

    # -- worker: decode and batch ------------------------------------------------------------
    def _run(self) -> None:
        try:
            self._work()
        finally:
            self._handoff_put(None)  # tell the flusher nothing more comes
            if not self._stop.is_set():
                self.crashed = True
                log.critical("collector worker died; stopping (nothing unstored was acked)")
                self._done.set()

    def _work(self) -> None:
        self._types_ready.wait(self.settings.influx.timeout + 1.0)
        while not self._stop.is_set():
            batch = _Batch()
            self._collect(batch)
            if (batch.messages or batch.lines) and not self._handoff_put(batch):
                return  # stopping while the flusher holds a batch: this one stays unacked
            self.summary.maybe_log()

    def _handoff_put(self, batch: _Batch | None) -> bool:
        """Hand a batch to the flusher, waiting while it is busy; False if the flusher is gone
        or (for a batch) stop was requested while waiting."""
        while True:
            try:
                self._handoff.put(batch, timeout=0.25)
                return True
            except queue.Full:
                if self._flusher is None or not self._flusher.is_alive():
                    return False
                if batch is not None and self._stop.is_set() and self._flusher_holding:
                    return False

    def _collect(self, batch: _Batch) -> None:
        get = self.source.get
        size = self.settings.batch.size
        deadline = time.monotonic() + self.settings.batch.flush_interval
        received = readings = 0
        while len(batch.lines) < size and len(batch.messages) < self._max_messages:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._stop.is_set():
                break
            try:
                item = get(min(remaining, 0.25))
            except queue.Empty:
                continue
            batch.messages.append(item)
            received += 1
            readings += self._decode(item, batch)
        # Counted per batch, not per message: a Prometheus inc takes a lock.
        if received:
            self.counts["messages"] += received
            self.metrics.messages.inc(received)
        if readings:
            self.counts["readings"] += readings
            self.metrics.readings.inc(readings)
        overruns = self.source.overruns
        if overruns > self._overruns_seen:
            self.metrics.window_overruns.inc(overruns - self._overruns_seen)
            self._overruns_seen = overruns

    # -- flusher: make durable, then ack ------------------------------------------------------
    def _run_flusher(self) -> None:
        try:
            try:
                self.writer.prepare()  # v1: CREATE DATABASE now, not at the first reading
            except RetryableWriteError as exc:
                log.warning("InfluxDB not ready at start (will retry before writing): %s", exc)
            self._learn_field_types()
            self._flush_loop()
        finally:
            if not self._stop.is_set():
                self.crashed = True
                log.critical("collector flusher died; stopping (nothing unstored was acked)")
            self._done.set()

    def _learn_field_types(self) -> None:
        """Ask InfluxDB for its field types before the first batch is decoded, so the decoder
        drops a conflicting extra field instead of a write failing on it."""
        try:
            known = stored_field_types(self.writer)
        except InfluxUnavailable as exc:
            log.warning("cannot read field types (SHOW FIELD KEYS; the collector needs read "
                        "permission on its database or bucket): %s; a conflict then costs "
                        "failed writes until InfluxDB names the field", exc)
        else:
            for key, kind in known.items():
                self.field_types.setdefault(key, kind)
            log.info("%d stored field types known", len(known))
        finally:
            self._types_ready.set()

    def _flush_loop(self) -> None:
        held: _Batch | None = None
        while True:
            if held is not None:
                if self._stop.is_set():
                    log.warning("stopping with %d messages not stored: left unacked for "
                                "redelivery", len(held.messages))
                    return
                self._replay()
                if self._flush(held):
                    held = None
                    self._flusher_holding = False
                else:
                    self._stop.wait(self._retry_delay)
                continue
            try:
                batch = self._handoff.get(timeout=0.25)
            except queue.Empty:
                self._replay()
                continue
            if batch is None:
                return  # the worker has finished: every batch it made has been flushed
            if not self._flush(batch):
                held = batch  # spool full: the hand-over blocks until it is stored
                self._flusher_holding = True
            self._replay()

    def _decode(self, item: Inbound, batch: _Batch) -> int:
        """Decode one message into the batch; returns the number of valid readings."""
        try:
            decoded = self.decoder.decode(item.topic, item.payload)
            lines = lines_for(decoded, self.registry)
        except _DECODER_BUGS as exc:
            self.deadletter.add_raw("decoder_error", repr(exc), item.topic, item.payload[:200])
            self.counts["rejected"] += 1
            self.metrics.rejected.labels("decoder_error").inc()
            return 0
        self._account(decoded)
        batch.lines.extend(lines)
        return len(decoded.readings)

    def _account(self, decoded: Decoded) -> None:
        m, s = self.metrics, self.summary
        for rej in decoded.rejections:
            self.counts["rejected"] += 1
            m.rejected.labels(str(rej.reason)).inc()
            s.rejected[str(rej.reason)] += 1
            self.deadletter.add_rejection(rej)
            if self.seq is not None and rej.seq is not None and rej.station is not None:
                # It arrived (and is dead-lettered): its seq is not a gap.
                self.seq.observe(rej.station, rej.meter, rej.seq)
        for conflict in decoded.field_conflicts:
            self.deadletter.add_rejection(conflict)
        if decoded.field_conflicts:
            self.counts["field_conflicts"] += len(decoded.field_conflicts)
            m.field_conflicts.inc(len(decoded.field_conflicts))
        if decoded.capped_fields:
            self.counts["extra_fields_capped"] += decoded.capped_fields
            m.extra_fields_capped.inc(decoded.capped_fields)
        if decoded.dropped_fields:
            self.counts["dropped_fields"] += decoded.dropped_fields
            m.dropped_fields.inc(decoded.dropped_fields)
            s.dropped_fields += decoded.dropped_fields
        readings = decoded.readings
        if not readings:
            return
        station = readings[0].station  # one message, one topic, one station
        if self.registry.get(station) is None:
            self.counts["unregistered"] += len(readings)
            m.unregistered.inc(len(readings))
            s.unregistered[station] += len(readings)
            if station not in self._unregistered:
                self._unregistered.add(station)
                m.unregistered_stations.set(len(self._unregistered))
        if self.seq is None:
            return
        first = readings[0]
        if len(readings) > 1 and first.seq is not None and first.kind is not Kind.STATUS:
            # An array from one gateway is nearly always the next run of its counter: one
            # check for the whole run instead of one per reading.
            seqs = [r.seq for r in readings]
            if seqs == list(range(first.seq, first.seq + len(seqs))) and self.seq.extend(
                station, first.meter, first.seq, len(seqs), readings[-1].ts_ns
            ):
                return
        for r in readings:
            if r.seq is None or r.kind == Kind.STATUS:
                continue
            res = self.seq.observe(r.station, r.meter, r.seq, r.ts_ns)
            if res is NOTHING:
                continue
            if res.gaps:
                self.counts["seq_gaps"] += res.gaps
                m.seq_gaps.inc(res.gaps)
                m.seq_gap_alarms.inc()
                s.gaps[r.station] += res.gaps
            elif res.duplicate:
                self.counts["seq_duplicates"] += 1
                m.seq_duplicates.inc()
                s.duplicates[r.station] += 1
            elif res.late:
                m.seq_late.inc()
                s.late[r.station] += 1

    def _flush(self, batch: _Batch) -> bool:
        """Make the batch durable and ack it; False if it could not be stored (spool full)."""
        if batch.lines and not batch.stored:
            if not self._store(batch.lines):
                return False
            batch.stored = True
        if not self._flush_deadletter():
            return False  # held unacked: its rejections exist only in memory so far
        self.counts["acked"] += self.source.ack(batch.messages)
        self.metrics.queue_depth.set(self.source.queue.qsize())
        self.metrics.batch_size.observe(len(batch.lines))
        return True

    def _flush_deadletter(self) -> bool:
        """False if the dead-letter file could not be written: the entries stay in memory and
        the caller must not ack (or commit the spool chunk) that produced them."""
        try:
            n = self.deadletter.flush()
        except OSError as exc:
            self.metrics.deadletter_failures.inc()
            if not self._deadletter_failing:
                log.error("cannot write dead-letter file %s: %s; holding the batch unacked",
                          self.deadletter.path, exc)
            self._deadletter_failing = True
            return False
        if self._deadletter_failing:
            log.info("dead-letter file %s written again", self.deadletter.path)
            self._deadletter_failing = False
        self.metrics.dead_lettered.inc(n)
        return True

    def _store(self, lines: list[str]) -> bool:
        if not self.spool and time.monotonic() >= self._down_until and self._write(lines):
            self._spool_not_full()
            return True
        try:
            alarm = self.spool.append(lines)
        except SpoolFull as exc:
            self.metrics.spool_full.inc()
            if not self._spool_full:
                log.error("%s: holding messages unacked (broker keeps them) until it drains", exc)
            self._spool_full = True
            return False
        except SpoolError as exc:
            log.error("spool write failed, holding messages unacked: %s", exc)
            return False
        self._spool_not_full()
        self.counts["spooled"] += len(lines)
        self.metrics.spooled.inc(len(lines))
        if alarm:
            self.metrics.spool_alarms.inc()
            log.warning("spool passed %.0f %% of max_bytes (%d of %d bytes)",
                        self.spool.alarm_ratio * 100, self.spool.size_bytes, self.spool.max_bytes)
        self._update_spool_gauges()
        return True

    def _spool_not_full(self) -> None:
        if self._spool_full:
            log.info("held messages stored; consuming again")
            self._spool_full = False

    def _write(self, lines: list[str]) -> bool:
        """One write attempt (with bisection of refused lines); False if InfluxDB is down."""
        started = time.monotonic()
        try:
            refused = write_or_quarantine(self.writer.write, lines)
        except RetryableWriteError as exc:
            self.counts["write_errors"] += 1
            self.metrics.write_errors.labels("retryable").inc()
            self._down_until = time.monotonic() + self._retry_delay
            self._retry_delay = min(self._retry_delay * 2, self.settings.spool.retry_max_delay)
            if not self._influx_down:
                log.warning("InfluxDB unavailable, spooling to %s: %s", self.spool.directory, exc)
            self._influx_down = True
            return False
        self.metrics.write_latency.observe(time.monotonic() - started)
        self._retry_delay = self.settings.spool.retry_min_delay
        if self._influx_down:
            log.info("InfluxDB answers again; replaying %d spooled bytes", self.spool.pending_bytes)
            self._influx_down = False
        conflicts: list[tuple[str, str, str]] = []
        if refused:
            try:
                refused, conflicts = resolve_conflicts(self.writer.write, refused,
                                                       self.field_types)
            except RetryableWriteError:  # the stripped lines come back with the next replay
                self._influx_down = True
                self._down_until = time.monotonic() + self._retry_delay
                return False
            for line, name, detail in conflicts:
                self.deadletter.add_field_conflict(line, name, detail)
            if conflicts:
                self.counts["field_conflicts"] += len(conflicts)
                self.metrics.field_conflicts.inc(len(conflicts))
        for line, detail in refused:
            self.deadletter.add_refused_line(line, detail)
        if refused or conflicts:
            self.counts["refused"] += len(refused)
            self.metrics.write_errors.labels("refused").inc(len(refused))
            self.summary.refused += len(refused)
            self._flush_deadletter()
        stored = len(lines) - len(refused)
        self.counts["stored"] += stored
        self.metrics.stored.inc(stored)
        return True

    def _replay(self, budget_s: float = 1.0) -> None:
        """Write spooled chunks, oldest first, for at most ``budget_s`` (then consume again)."""
        if not self.spool:
            return
        max_lines = min(max(self.settings.batch.size * 4, 5000), 50_000)
        until = time.monotonic() + budget_s
        while self.spool and time.monotonic() < until:
            if time.monotonic() < self._down_until or self._stop.is_set():
                return
            try:
                chunk = self.spool.peek(max_lines)
            except SpoolError as exc:
                log.error("cannot read spool: %s", exc)
                return
            if chunk is None or not self._write(chunk.lines):
                break
            if not self._flush_deadletter():
                # Its refused lines are only in memory: keep the chunk (replayed again later,
                # a harmless duplicate write) rather than lose them with a crash.
                break
            self.spool.commit(chunk)
            self.counts["replayed"] += len(chunk.lines)
            self.metrics.replayed.inc(len(chunk.lines))
            if not self.spool:
                log.info("spool drained; %d lines replayed so far", self.counts["replayed"])
        self._update_spool_gauges()

    def _update_spool_gauges(self) -> None:
        corrupt = self.spool.corrupt_records
        if corrupt > self._spool_corrupt_seen:
            self.metrics.spool_corrupt.inc(corrupt - self._spool_corrupt_seen)
            self._spool_corrupt_seen = corrupt
        self.metrics.spool_bytes.set(self.spool.size_bytes)
        self.metrics.spool_fill.set(self.spool.fill_ratio)
