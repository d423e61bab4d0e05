"""Every series ordertrack exposes, defined once: the web edge and the queue edge both record
here (service may import workers), and `/metrics` serves them.

Labels are small closed sets (sources, statuses, channels, outcomes): never an address, an
order id or a tracking number, which would leak personal data and grow without bound.

Multiprocess mode: prometheus-client reads PROMETHEUS_MULTIPROC_DIR when it is first
imported, so the variable must be set before the process starts. Every metric here has
labels, so importing this module writes nothing: a process's file appears on its first
observation.
"""

import logging
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    multiprocess,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy.orm import Session, sessionmaker

from ordertrack import delays
from ordertrack.store import documents, flags, inbox

log = logging.getLogger(__name__)

# No `<name>_created` series: multiprocess mode never has them, so a single process (`make
# run`) exposes the same families the dashboard shows, and a scrape stays small.
disable_created_metrics()

#: Seconds. The receiver answers in milliseconds; COMMIT_TIMEOUT_SECONDS (1.5) caps a 503.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5, 5.0)
#: Seconds, from under a second (the queue keeps up) to a day (parked, or Redis was down).
APPLY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 21600, 86400)

WEBHOOKS = Counter(
    "ordertrack_webhooks_received_total",
    "Webhooks answered, by source and HTTP status code (errors included).",
    ["source", "code"],
)
ACK_SECONDS = Histogram(
    "ordertrack_webhook_ack_duration_seconds",
    "Time to answer POST /webhooks/<source>: verify, store durably, acknowledge.",
    ["source"],
    buckets=ACK_BUCKETS,
)
APPLIED_SECONDS = Histogram(
    "ordertrack_event_received_to_applied_seconds",
    "From a webhook's arrival in the inbox to its facts applied to the order.",
    ["source"],
    buckets=APPLY_BUCKETS,
)
TRANSITIONS = Counter(
    "ordertrack_order_transitions_total",
    "Order status transitions applied, by the status the order moved to.",
    ["status"],
)
NOTIFICATIONS = Counter(
    "ordertrack_notifications_total",
    "Notification attempts recorded, by channel and outcome (sent, skipped, failed, retry).",
    ["channel", "outcome"],
)

#: A path segment that is no source of ours is counted under this one label, not its own.
OTHER_SOURCE = "other"


def webhook_answered(source: str, code: int, seconds: float) -> None:
    WEBHOOKS.labels(source=source, code=str(code)).inc()
    ACK_SECONDS.labels(source=source).observe(seconds)


def event_applied(source: str, received_at: datetime, applied_at: datetime) -> None:
    """Clamped at 0: the web and worker hosts' clocks may disagree a little."""
    waited = max((applied_at - received_at).total_seconds(), 0.0)
    APPLIED_SECONDS.labels(source=source).observe(waited)


def transitions(statuses: Iterable[str]) -> None:
    for status in statuses:
        TRANSITIONS.labels(status=str(status)).inc()


def notification_attempted(channel: str, outcome: str) -> None:
    NOTIFICATIONS.labels(channel=channel, outcome=outcome).inc()


class StoreCollector:
    """Gauges read from the database at scrape time: they describe the store, not a process,
    so one query per scrape beats every process keeping a copy. Register it on the registry
    a scrape reads (in multiprocess mode, not the multiprocess one: its files hold only what
    processes recorded)."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def describe(self) -> list:
        """Nothing: registering must not query the database (no connection at start-up)."""
        return []

    def collect(self):
        up = GaugeMetricFamily(
            "ordertrack_metrics_store_up", "1 when the database answered this scrape's queries."
        )
        try:
            with self._sessions() as session:
                backlog = inbox.backlog(session)
                unknown = documents.unknown_codes(session)
                late = flags.count_open_by_kind(session)
        except Exception as exc:  # the scrape still answers, and says the store did not
            log.warning("metrics: the database did not answer (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _backlog_families(backlog)
        yield from _unknown_code_families(unknown)
        yield _open_flags_family(late)


def _backlog_families(backlog: inbox.Backlog):
    rows = GaugeMetricFamily(
        "ordertrack_inbox_backlog_rows",
        "Inbox rows still to be applied, by status (pending, processing, parked).",
        labels=["status"],
    )
    for status, count in backlog.rows.items():
        rows.add_metric([status], count)
    age = GaugeMetricFamily(
        "ordertrack_inbox_oldest_pending_age_seconds",
        "Age of the oldest pending inbox row (0 when none is pending).",
    )
    oldest = backlog.oldest_pending_at
    waited = (datetime.now(UTC) - oldest).total_seconds() if oldest else 0.0
    age.add_metric([], max(waited, 0.0))
    return rows, age


def _unknown_code_families(unknown: list[dict]):
    """By source only: a raw code is the provider's free text, not a label we can bound."""
    codes = GaugeMetricFamily(
        "ordertrack_unknown_status_codes",
        "Distinct status codes a source sent that its table does not map.",
        labels=["source"],
    )
    events = GaugeMetricFamily(
        "ordertrack_unknown_status_events",
        "History entries stored as `unknown` because their code is not mapped, by source.",
        labels=["source"],
    )
    per_source: dict[str, tuple[int, int]] = {}
    for entry in unknown:
        distinct, total = per_source.get(entry["source"], (0, 0))
        per_source[entry["source"]] = (distinct + 1, total + entry["count"])
    for source, (distinct, total) in sorted(per_source.items()):
        codes.add_metric([source], distinct)
        events.add_metric([source], total)
    return codes, events


def _open_flags_family(open_by_kind: dict[str, int]) -> GaugeMetricFamily:
    """Every kind, 0 included, so a panel's line drops to 0 instead of vanishing. One flag
    is one order (not_shipped) or one parcel (the rest): the partial index on open flags
    keeps the count cheap."""
    family = GaugeMetricFamily(
        "ordertrack_delay_flags_open",
        "Open delay flags by kind: orders not shipped in time, parcels late in each way.",
        labels=["kind"],
    )
    for kind in dict.fromkeys((*delays.KINDS, *open_by_kind)):
        family.add_metric([kind], open_by_kind.get(kind, 0))
    return family


def prepare_multiprocess_dir(path: str | None) -> None:
    """At start-up of `serve` or `worker`: create the directory, and empty it unless a live
    process writes there (the other command started first). Files a previous run left would
    otherwise be added to this run's totals."""
    if not path:
        return
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    files = list(directory.glob("*.db"))
    if any(_alive(_pid_of(file)) for file in files):
        return
    for file in files:
        file.unlink(missing_ok=True)


def serve_worker_metrics(port: int, path: str | None) -> None:
    """Where worker processes run apart from the web (their own pod or container), the
    supervisor serves their series, added up, on a port of its own for Prometheus to scrape:
    the web's /metrics cannot see another host's directory. Plain HTTP, no token: bind it to
    the pod's private network."""
    if not path:
        raise ValueError("--metrics-port needs PROMETHEUS_MULTIPROC_DIR: the workers' series")
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    start_http_server(port, registry=registry)


def process_exited(pid: int, path: str | None) -> None:
    """prometheus-client's clean-up for a dead process (its live gauges go; its counters
    stay, so totals never fall when a worker is replaced)."""
    if path:
        multiprocess.mark_process_dead(pid, path)


def _pid_of(file: Path) -> int | None:
    """prometheus-client names its files `<type>[_<mode>]_<pid>.db`."""
    tail = file.stem.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else None


def _alive(pid: int | None) -> bool:
    if pid is None or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True
