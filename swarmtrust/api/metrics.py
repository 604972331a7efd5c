"""Prometheus metrics of the ledger service: request rates and latencies, ingest, and the ledger's state.

Each application owns its registry (several apps may live in one process, as in tests). Counts of the
ledger's state (verdicts, open disputes, events) are read from the database at scrape time, so every API
process over one database reports the same figures.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select

from swarmtrust.ledger.ingest import IngestResult
from swarmtrust.ledger.models import ChainHead, ChallengeRow, DisputeRow, Event, VerdictRow

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
LAG_BUCKETS = (0.01, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 86400.0)


class ServiceMetrics:
    def __init__(self, engine: Engine) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "swarmtrust_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "swarmtrust_http_request_duration_seconds",
            "Time to answer a request, by route template",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.receipts = Counter(
            "swarmtrust_receipts_submitted", "Receipts submitted, by result", ["status"], registry=self.registry
        )
        self.ingest_lag = Histogram(
            "swarmtrust_ingest_lag_seconds",
            "From a receipt's own timestamp to its recording in the ledger",
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(LedgerCollector(engine))

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def observe_ingest(self, results: Sequence[IngestResult], recorded_ms: int) -> None:
        for result in results:
            self.receipts.labels(result.status).inc()
            if result.signed_ms is not None:
                self.ingest_lag.observe(max(0.0, (recorded_ms - result.signed_ms) / 1000))


class LedgerCollector(Collector):
    """The ledger's state, read at scrape time."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())  # families vary with the data; nothing to pre-register

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        with self.engine.connect() as connection:
            head = connection.execute(select(ChainHead.seq)).scalar() or 0
            last_ms = connection.execute(select(Event.recorded_ms).where(Event.seq == head)).scalar()
            verdicts = connection.execute(select(VerdictRow.outcome, func.count()).group_by(VerdictRow.outcome)).all()
            open_disputes = connection.execute(
                select(func.count()).select_from(DisputeRow).where(DisputeRow.state == "open")
            ).scalar()
            undecided = connection.execute(
                select(func.count()).select_from(ChallengeRow).where(ChallengeRow.phase != "decided")
            ).scalar()
        yield GaugeMetricFamily("swarmtrust_ledger_events", "Events in the ledger (the chain head's seq)", value=head)
        if last_ms is not None:
            yield GaugeMetricFamily(
                "swarmtrust_ledger_last_event_ms", "When the newest event was recorded (ms since epoch)", value=last_ms
            )
        family = CounterMetricFamily("swarmtrust_verdicts", "Verdicts recorded, by outcome", labels=["outcome"])
        for outcome, count in verdicts:
            family.add_metric([outcome], count)
        yield family
        yield GaugeMetricFamily("swarmtrust_open_disputes", "Disputes not yet decided", value=open_disputes or 0)
        yield GaugeMetricFamily("swarmtrust_open_challenges", "Challenges not yet decided", value=undecided or 0)
