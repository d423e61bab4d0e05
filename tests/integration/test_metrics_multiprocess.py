"""Multiprocess mode in real processes: `ordertrack serve` (gunicorn, two web processes) and
`ordertrack worker` (two Dramatiq processes) share PROMETHEUS_MULTIPROC_DIR, and one scrape
of the web adds up what every process recorded. prometheus-client reads that variable when it
is first imported, so only subprocesses can be started with it."""

import os
import subprocess
import sys

import requests

from tests.support.metrics import parse, value
from tests.support.processes import ORDERTRACK, Process, RedisServer, wait_for
from tests.support.smtp import free_port
from tests.support.webhooks import STORY

TOKEN = "metrics-secret"
APPLIED = "ordertrack_event_received_to_applied_seconds_count"


def _record_one_stale_webhook(env: dict[str, str]) -> None:
    """What a previous run leaves behind: a file of a process long gone."""
    code = "from workers import metrics; metrics.webhook_answered('shopify', 202, 0.01)"
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=30)


def _scrape(base: str):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = requests.get(f"{base}/metrics", headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    return parse(response.text)


def test_web_and_worker_processes_add_up_in_one_scrape(postgres_url, base_env, tmp_path):
    metrics_dir = tmp_path / "metrics"
    redis_server = RedisServer(tmp_path).start()
    env = {
        **os.environ,
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_server.url,
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "METRICS_TOKEN": TOKEN,
    }
    metrics_dir.mkdir()
    _record_one_stale_webhook(env)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    serve = [ORDERTRACK, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "2"]
    web = Process([*serve, "--threads", "4"], env, tmp_path / "web.log")
    worker_port = free_port()
    worker = Process(
        [ORDERTRACK, "worker", "--processes", "2", "--threads", "2"],
        env | {"WORKER_METRICS_PORT": str(worker_port)},
        tmp_path / "worker.log",
    )
    try:
        wait_for(lambda: _answers(base, web), timeout=30, what="ordertrack serve")
        for request in STORY:
            answer = requests.post(
                base + request.path, data=request.body, headers=request.headers, timeout=10
            )
            assert answer.status_code == 202, (request.name, answer.text)

        def all_applied():  # in any order: a carrier event may wait parked for its parcel
            samples = _scrape(base)
            counts = [value(samples, APPLIED, source=s) for s in ("shopify", "easypost")]
            return counts == [4, 7] and samples

        samples = wait_for(all_applied, timeout=60, what="the story applied")
        # The supervisor's own port: what a worker pod apart from the web is scraped at.
        own = parse(requests.get(f"http://127.0.0.1:{worker_port}/metrics", timeout=10).text)
    finally:
        web.stop()
        worker.stop()
        redis_server.stop()

    webhooks = "ordertrack_webhooks_received_total"
    assert value(samples, webhooks, source="shopify", code="202") == 4, "the stale file is gone"
    assert value(samples, webhooks, source="easypost", code="202") == 7
    assert value(samples, "ordertrack_order_transitions_total", status="delivered") == 1
    for status in ("pending", "processing", "parked"):
        assert value(samples, "ordertrack_inbox_backlog_rows", status=status) == 0
    assert value(own, "ordertrack_order_transitions_total", status="delivered") == 1
    assert value(own, APPLIED, source="easypost") == 7
    writers = {path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("*.db")}
    assert len(writers) >= 2, f"one web and one worker process at least wrote: {writers}"


def _answers(base: str, web: Process) -> bool:
    assert web.running(), web.log()
    try:  # gunicorn listens before its workers have loaded the app: slow, not down
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except (requests.ConnectionError, requests.Timeout):
        return False
