"""Open tracking pages never keep a provider's webhook waiting (issue 13, defect 4). Under the
real server, as `ordertrack serve` runs it (gunicorn's gthread workers), each live-update
stream (`/t/<token>/events`) holds a thread while it is open: with more pages open than the
process has threads, a webhook used to queue behind them for minutes. Now a process gives
streams at most half its threads (and SSE_MAX_STREAMS); the other pages are told 503 with
Retry-After, and poll."""

import os
import socket
import time

import pytest
import requests
from sqlalchemy import create_engine, select

from ordertrack.notifications.links import signing_keys, tracking_token
from ordertrack.settings import Settings
from ordertrack.store.models import Order
from tests.support.processes import ORDERTRACK, Process, wait_for
from tests.support.smtp import free_port
from tests.support.webhooks import STORY

THREADS = 4
PAGES = 3 * THREADS


def _serve(database_url: str, log_dir, **env: str) -> tuple[str, Process]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    environment = {**os.environ, "DATABASE_URL": database_url, "PUBLIC_BASE_URL": base, **env}
    argv = [ORDERTRACK, "serve", "--host", "127.0.0.1", "--port", str(port)]
    argv += ["--workers", "1", "--threads", str(THREADS)]
    return base, Process(argv, environment, log_dir / "web.log")


def _answers(base: str, web: Process) -> bool:
    assert web.running(), web.log()
    try:
        return requests.get(f"{base}/healthz", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def _post(base: str, request, timeout: float) -> requests.Response:
    return requests.post(
        base + request.path, data=request.body, headers=request.headers, timeout=timeout
    )


def _order_id(database_url: str) -> int | None:
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            return connection.scalar(select(Order.id))
    finally:
        engine.dispose()


def _open_stream(base: str, path: str) -> socket.socket:
    """A page's EventSource: the request sent, the answer not yet read."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
    sock.sendall(request.encode())
    return sock


def _head(sock: socket.socket, timeout: float) -> tuple[int | None, dict[str, str]]:
    """The answer's status and headers; (None, {}) when none came within `timeout`."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        return None, {}
    lines = data.split(b"\r\n\r\n")[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {name.lower(): value for name, value in headers.items()}


def test_more_open_pages_than_threads_still_get_a_webhook_its_202_within_a_second(
    postgres_url, base_env, tmp_path
):
    base, web = _serve(postgres_url, tmp_path, LOG_LEVEL="WARNING")
    streams: list[socket.socket] = []
    try:
        wait_for(lambda: _answers(base, web), timeout=30, what="ordertrack serve")
        assert _post(base, STORY[0], timeout=10).status_code == 202
        order_id = wait_for(lambda: _order_id(postgres_url), timeout=20, what="the order")
        token = tracking_token(signing_keys(Settings.from_env()), order_id)
        streams = [_open_stream(base, f"/t/{token}/events") for _ in range(PAGES)]
        time.sleep(0.5)  # the server has taken every connection
        started = time.monotonic()
        try:
            answer = _post(base, STORY[1], timeout=5)
        except requests.Timeout:
            pytest.fail(
                f"the webhook waited over 5 s behind {PAGES} open pages ({THREADS} threads)"
            )
        took = time.monotonic() - started
        assert answer.status_code == 202, answer.text
        assert took < 1.0, f"the webhook's 202 took {took:.2f} s"
        heads = [_head(sock, timeout=5) for sock in streams]
    finally:
        for sock in streams:
            sock.close()
        web.stop(timeout=3)
    statuses = [status for status, _ in heads]
    assert statuses.count(200) == THREADS // 2, statuses
    assert statuses.count(503) == PAGES - THREADS // 2, statuses
    refused = [headers for status, headers in heads if status == 503]
    assert all(int(headers["retry-after"]) > 0 for headers in refused)
    assert all(headers["content-type"] == "application/json" for headers in refused)
