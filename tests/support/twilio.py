"""Twilio's Messages resource as far as the tests need it, played with `responses` (Twilio is a
third party): a POST creates a text or not, as the test scripts it, and answers as Twilio
would; a GET lists the texts created, newest first, filtered by To as Twilio filters them."""

import json
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs, parse_qsl, urlsplit

import requests
import responses
from dramatiq.middleware.time_limit import TimeLimitExceeded

ACCOUNT = "AC" + "0f" * 16
AUTH_TOKEN = "twilio-auth-token-test"
FROM = "+15005550006"
MESSAGES_URL = f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
ENV = {
    "TWILIO_ACCOUNT_SID": ACCOUNT,
    "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
    "TWILIO_FROM": FROM,
    "SMS_QUIET_HOURS": "off",
}

#: What one POST does, in script order; once the script is used up, each POST creates.
CREATED = "created"  # 201 with the new message
CREATED_THEN_500 = "created_then_500"  # the text is created, and Twilio answers 500 (20500)
TIMEOUT = "timeout"  # nothing is created; the client's read times out
THROTTLED = "throttled"  # 429 (20429) with Retry-After: 1; nothing is created
#: Dramatiq's TimeLimit strikes the worker thread mid-request (a BaseException); nothing sent.
TIME_LIMIT = "time_limit"


@dataclass
class FakeTwilio:
    script: list[str] = field(default_factory=list)
    #: The texts Twilio holds, oldest first, as the Message resource shows them.
    messages: list[dict] = field(default_factory=list)
    #: (monotonic time, the form) of every POST.
    posts: list[tuple[float, dict[str, str]]] = field(default_factory=list)
    #: The query of every GET of the list.
    lookups: list[dict[str, list[str]]] = field(default_factory=list)

    def install(self, mock: responses.RequestsMock) -> None:
        mock.add_callback(responses.POST, MESSAGES_URL, callback=self._create)
        mock.add_callback(responses.GET, MESSAGES_URL, callback=self._list)

    def _create(self, request):
        form = dict(parse_qsl(request.body))
        self.posts.append((time.monotonic(), form))
        action = self.script.pop(0) if self.script else CREATED
        if action == TIMEOUT:
            return requests.exceptions.ReadTimeout("read timed out")
        if action == TIME_LIMIT:
            raise TimeLimitExceeded()
        if action == THROTTLED:
            error = {"code": 20429, "message": "Too Many Requests", "status": 429}
            return 429, {"Retry-After": "1"}, json.dumps(error)
        message = self.create(form)
        if action == CREATED_THEN_500:
            error = {"code": 20500, "message": "Internal Server Error", "status": 500}
            return 500, {}, json.dumps(error)
        return 201, {}, json.dumps(message)

    def create(self, form: dict[str, str]) -> dict:
        """A text as Twilio records it on create: queued, not yet sent (no date_sent)."""
        message = {
            "sid": f"SM{len(self.messages) + 1:032x}",
            "account_sid": ACCOUNT,
            "to": form["To"],
            "from": form.get("From"),
            "messaging_service_sid": form.get("MessagingServiceSid"),
            "body": form["Body"],
            "status": "queued",
            "direction": "outbound-api",
            "date_created": time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime()),
            "date_sent": None,
            "error_code": None,
        }
        self.messages.append(message)
        return message

    def _list(self, request):
        query = parse_qs(urlsplit(request.url).query)
        self.lookups.append(query)
        to = query.get("To", [None])[0]
        listed = [m for m in reversed(self.messages) if to is None or m["to"] == to]
        page = {"messages": listed, "page": 0, "page_size": 50, "next_page_uri": None}
        return 200, {}, json.dumps(page)
