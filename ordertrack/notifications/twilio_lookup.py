"""Was this text sent already? The look-up before retrying a text whose last attempt was
ambiguous (Twilio answered 5xx, or never answered): the account's Messages list, the same
resource a text is created on, read with a GET (Twilio REST API 2010-04-01, "Read multiple
Message resources": filters To, From, DateSent; the newest first; `{"messages": [...],
"next_page_uri", ...}`), each Message as the create answer shows it.

No DateSent filter: a text Twilio has created but not yet sent has no date_sent (the create
answer carries "date_sent": null, status "queued") and would be left out, which is exactly the
text looked for; the creation date is checked here instead. The StatusCallback URL that names
our outbox row is not part of the Message resource, so the text is matched on its body,
without its links: ours carry a tracking link signed anew on each attempt, and Twilio's link
shortening rewrites links. A status callback naming the row settles it too (deliveries.py).
"""

import re
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import requests

from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.sms import MESSAGES_PATH, TwilioConfig, fit_body

#: Twilio's statuses of a text that will never reach the handset (as its status callbacks).
GAVE_UP_STATUSES = frozenset({"failed", "undelivered", "canceled"})
#: The texts one look-up reads: the newest to the number, one page. Ours to one customer since
#: a message was written are a handful.
LOOKUP_PAGE_SIZE = 50
#: Twilio's clock and ours may disagree a little.
CLOCK_SKEW = timedelta(minutes=5)


def find_sent(
    config: TwilioConfig,
    to: str,
    body: str,
    *,
    since: datetime,
    session: requests.Session | None = None,
) -> str | None:
    """The SID of a text Twilio already created for `to` with this body since `since` (the
    outbox row's creation), or None: then it never went, and may be sent. Raises an ambiguous
    DeliveryError when Twilio cannot be asked, and a permanent one when the text it holds
    failed for good (as a status callback would say)."""
    url = config.api_base.rstrip("/") + MESSAGES_PATH.format(sid=config.account_sid)
    query = {"To": to, "PageSize": str(LOOKUP_PAGE_SIZE)}
    try:
        response = (session or requests).get(
            url,
            params=query,
            auth=(config.account_sid, config.auth_token),
            timeout=config.timeout,
            allow_redirects=False,
        )
        messages = response.json()["messages"] if response.status_code == 200 else None
    except (requests.RequestException, ValueError, TypeError, KeyError) as exc:
        raise _unanswered(type(exc).__name__) from None
    if not isinstance(messages, list):
        raise _unanswered(f"HTTP {response.status_code}")
    return _ours(messages, config, to, fit_body(body), since)


def _unanswered(why: str) -> DeliveryError:
    reason = f"could not ask Twilio whether the last text went ({why})"
    return DeliveryError(reason, permanent=False, ambiguous=True)


def _ours(messages: list, config: TwilioConfig, to: str, body: str, since: datetime) -> str | None:
    wanted = _without_links(body)
    for message in messages:
        if not (isinstance(message, dict) and _same_text(message, config, to, wanted, since)):
            continue
        sid, status = message.get("sid"), message.get("status")
        if status in GAVE_UP_STATUSES:
            error = message.get("error_code") or "not given"
            raise DeliveryError(f"Twilio: {status} (error {error})", permanent=True)
        if isinstance(sid, str) and sid:
            return sid
    return None


def _same_text(message: dict, config: TwilioConfig, to: str, wanted: str, since) -> bool:
    sender = message.get("messaging_service_sid" if config.sender.startswith("MG") else "from")
    return (
        str(message.get("direction", "")).startswith("outbound")
        and message.get("to") == to
        and sender == config.sender
        and _created_since(message.get("date_created"), since)
        and _without_links(message.get("body")) == wanted
    )


def _created_since(date_created, since: datetime) -> bool:
    """Twilio's dates are RFC 2822 ("Wed, 04 Nov 2026 13:00:02 +0000"); one it does not give
    or that does not parse does not rule a text out."""
    try:
        created = parsedate_to_datetime(date_created)
    except (TypeError, ValueError):
        return True
    since = since if since.tzinfo else since.replace(tzinfo=created.tzinfo)
    return created >= since - CLOCK_SKEW


_LINK = re.compile(r"https?://\S+")


def _without_links(text) -> str:
    return " ".join(_LINK.sub("<link>", text).split()) if isinstance(text, str) else ""
