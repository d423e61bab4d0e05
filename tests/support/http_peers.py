"""Third parties over real HTTP on 127.0.0.1, for the service's subprocesses (which `responses`
cannot reach into): Twilio's Messages resource, played as tests/support/twilio.py plays it
in-process, and a plain endpoint (a merchant's webhook URL, a platform's API) that records
every request and answers as scripted. Each serves on a free port from a thread of its own."""

import base64
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, parse_qsl, urlsplit

from tests.support.twilio import ACCOUNT, AUTH_TOKEN, FakeTwilio

#: What Twilio does with one POST, scripted per recipient: the text is created (201); it is
#: created and Twilio answers 500 (20500); or the number is refused (400, 21211).
CREATED, CREATED_THEN_500, INVALID_TO = "created", "created_then_500", "invalid_to"


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class _Server:
    """A ThreadingHTTPServer whose handler calls `self.answer(recorded)`."""

    def __init__(self) -> None:
        peer = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                recorded = Recorded(
                    self.command, self.path, dict(self.headers), self.rfile.read(length)
                )
                status, headers, body = peer.answer(recorded)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve  # noqa: N815

            def log_message(self, *args) -> None:
                """Quiet: the test reads what was recorded."""

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()

    def answer(self, recorded: Recorded) -> tuple[int, dict[str, str], bytes]:
        raise NotImplementedError


class TwilioServer(_Server):
    """TWILIO_API_BASE for a subprocess: checks the account's Basic credentials, creates texts
    (or not) as `script` says for their recipient, lists them filtered by To."""

    def __init__(self) -> None:
        super().__init__()
        self.fake = FakeTwilio()
        #: Recipient -> actions for its POSTs in order; once used up, each POST creates.
        self.script: dict[str, list[str]] = {}
        #: Every request, the Authorization header included (a test may look for it in logs).
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()

    def answer(self, recorded: Recorded) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(recorded)
            basic = base64.b64encode(f"{ACCOUNT}:{AUTH_TOKEN}".encode()).decode()
            if recorded.headers.get("Authorization") != f"Basic {basic}":
                return _json(401, {"code": 20003, "message": "Authenticate", "status": 401})
            if recorded.method == "GET":
                to = parse_qs(urlsplit(recorded.path).query).get("To", [None])[0]
                listed = [m for m in reversed(self.fake.messages) if to in (None, m["to"])]
                return _json(200, {"messages": listed, "page": 0, "next_page_uri": None})
            form = dict(parse_qsl(recorded.body.decode()))
            actions = self.script.get(form["To"], [])
            action = actions.pop(0) if actions else CREATED
            if action == INVALID_TO:
                message = f"The 'To' number {form['To']} is not a valid phone number."
                return _json(400, {"code": 21211, "message": message, "status": 400})
            message = self.fake.create(form)
            message["status_callback"] = form.get("StatusCallback")
            if action == CREATED_THEN_500:
                return _json(500, {"code": 20500, "message": "Internal Server Error"})
            return _json(201, message)

    @property
    def messages(self) -> list[dict]:
        return self.fake.messages


@dataclass
class Endpoint(_Server):
    """Records every request; answers with `statuses` in order, then `then` for good."""

    statuses: list[int] = field(default_factory=list)
    then: int = 204
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def answer(self, recorded: Recorded) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(recorded)
            status = self.statuses.pop(0) if self.statuses else self.then
        return status, {}, b""


def _json(status: int, document: dict) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(document).encode()
