"""Shared helpers: the bench environment, a fresh database and Redis db, waits on their
state, percentiles and result files. The processes under test are in bench/processes.py.

Override the targets with BENCH_PG_ADMIN_URL, BENCH_DB and BENCH_REDIS_URL.
"""

import contextlib
import json
import math
import os
import socket
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
RESULTS = ROOT / "bench" / "results"
LOGS = RESULTS / "logs"

PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://root@127.0.0.1:5432/test")
DB_NAME = os.environ.get("BENCH_DB", "ordertrack_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/15")
SECRETS = {"shopify": "bench-shopify-secret", "easypost": "bench-easypost-secret"}
REAL_APP = "entry.wsgi:app"
BARE_APP = "bench.bare_app:app"
#: Extra gunicorn options for both apps, e.g. BENCH_GUNICORN_EXTRA=--reuse-port
GUNICORN_EXTRA = os.environ.get("BENCH_GUNICORN_EXTRA", "")
QUEUE_NAMESPACE = "ordertrack"  #: workers/broker.py's RedisBroker namespace


def app_spec(name: str) -> str:
    """The WSGI app gunicorn serves for a benchmark's --app choice ("ordertrack" or "bare")."""
    return {"ordertrack": REAL_APP, "bare": BARE_APP}[name]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def db_url(driver: str = "postgresql+psycopg", db: str | None = None) -> str:
    """The URL of database `db` (the bench database by default) on the admin URL's server."""
    base = PG_ADMIN_URL.rsplit("/", 1)[0].split("://", 1)[1]
    return f"{driver}://{base}/{db or DB_NAME}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(
    smtp_port: int = 2525, web_port: int = 8000, db: str | None = None, **extra: str
) -> dict[str, str]:
    """The environment every ordertrack process (and the bare app) gets; `db` names another
    database than the bench one."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url(db=db),
        REDIS_URL=REDIS_URL,
        WEBHOOK_SECRET_SHOPIFY=SECRETS["shopify"],
        WEBHOOK_SECRET_EASYPOST=SECRETS["easypost"],
        API_TOKEN="bench-api-token",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_FROM="ordertrack-bench@example.test",
        SIGNING_SECRET="bench-signing-secret",
        NOTIFY_COALESCE_SECONDS="0",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def background_busy(seconds: float = 1.0) -> float:
    """Share of the machine's CPU busy before we start; warn when others are using it."""

    def sample() -> tuple[int, int]:
        ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]  # total, idle + iowait

    (total0, idle0), _, (total1, idle1) = sample(), time.sleep(seconds), sample()
    busy = 1 - (idle1 - idle0) / max(1, total1 - total0)
    if busy > 0.15:
        log(
            f"WARNING: the machine is already {busy:.0%} busy before the benchmark; "
            "other processes share the cores, so figures will be low and noisy"
        )
    return round(busy, 3)


# --- state ----------------------------------------------------------------------------


def reset_state(env: dict[str, str]) -> None:
    """Drop and recreate the bench database, migrate it, and empty the bench Redis db."""
    import psycopg

    global _conn
    if _conn is not None:
        _conn.close()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DB_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB_NAME}"')
    subprocess.run([BIN / "ordertrack", "migrate"], cwd=ROOT, env=env, check=True)
    redis_client().flushdb()


_conn = None
_conn_db = None  #: the database _conn is connected to


def sql(query: str, *params, db: str | None = None) -> list[tuple]:
    """Query the bench database (or `db`) on one kept connection (polling must not load the
    server)."""
    global _conn, _conn_db
    import psycopg

    db = db or DB_NAME
    for attempt in (1, 2):
        if _conn is None or _conn.closed or _conn_db != db:
            if _conn is not None:
                _conn.close()
            _conn, _conn_db = psycopg.connect(db_url("postgresql", db), autocommit=True), db
        try:
            return _conn.execute(query, params).fetchall()
        except psycopg.OperationalError:
            _conn = None  # e.g. the database was recreated: reconnect once
            if attempt == 2:
                raise
    return []


def inbox_counts(after_id: int = 0, db: str | None = None) -> dict[str, int]:
    """Inbox rows by status, of those after `after_id` (a pre-filled database has older ones:
    counting by the primary key keeps the poll as cheap at 5 million rows as at none)."""
    query = "SELECT status, count(*) FROM inbox WHERE id > %s GROUP BY status"
    return dict(sql(query, after_id, db=db))


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> float:
    """Poll `predicate` until true; return the seconds it took (TimeoutError after `timeout`)."""
    start = time.monotonic()
    while not predicate():
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - start


def redis_client():
    import redis

    return redis.Redis.from_url(REDIS_URL)


def wait_settled(
    phase: str, timeout: float = 900, after_id: int = 0, db: str | None = None
) -> None:
    """Wait until no inbox row (after `after_id`) is pending or processing, printing progress
    every 5 s."""
    start = last_print = time.monotonic()
    while True:
        counts = inbox_counts(after_id, db)
        unsettled = counts.get("pending", 0) + counts.get("processing", 0)
        if not unsettled:
            return
        if time.monotonic() - last_print >= 5:
            log(f"{phase}: waiting for the workers, inbox {counts}")
            last_print = time.monotonic()
        if time.monotonic() - start > timeout:
            raise TimeoutError(f"{phase}: {unsettled} inbox rows still unsettled: {counts}")
        time.sleep(0.5)


def wait_outbox(timeout: float = 120) -> dict:
    """Let the notifications drain too (best effort); return the outbox status counts."""
    busy = "SELECT 1 FROM outbox WHERE status IN ('pending', 'sending', 'ambiguous') LIMIT 1"
    with contextlib.suppress(TimeoutError):
        wait_until(lambda: not sql(busy), timeout, "outbox to drain", interval=0.5)
    return dict(sql("SELECT status, count(*) FROM outbox GROUP BY status"))


# --- figures --------------------------------------------------------------------------


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def finish(name: str, label: str, figure: float, op: str, target: float, details: dict) -> dict:
    """Print the headline figure against its target and write bench/results/<name>.json."""
    met = figure >= target if op == ">=" else figure <= target
    result = {
        "benchmark": name,
        "label": label,
        "figure": round(figure, 4),
        "target": f"{op} {target}",
        "met": met,
        "details": details,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    for key, value in details.items():
        print(f"  {key}: {json.dumps(value, default=str)}")
    print(f"==> {label}: {figure:.4g} (target {op} {target}): {'MET' if met else 'NOT MET'}")
    return result
