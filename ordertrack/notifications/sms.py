"""The SMS channel: one text through Twilio's Messages API, its failures sorted into retry or
give up, and nothing personal in what it says about them.

Twilio REST API 2010-04-01, Messages resource: a form-encoded POST with HTTP basic auth
(Account SID, Auth Token) creates one Message and answers 201 with its JSON; an error answers
`{"code", "message", "more_info", "status"}`. A 429 (20429) "is never processed and is always
safe to retry". Creating a message is not idempotent (error 20500: retrying a 500 may text the
customer twice) and Twilio documents no idempotency header for it. So a 5xx, or a request that
went out and got no answer, is ambiguous (DeliveryError.ambiguous): before the next try,
twilio_lookup.find_sent looks for the text in the account's Messages list, and a text Twilio
did create is recorded sent as it is (docs/reliability.md, "Effects once on an at-least-once
queue" and "Retry, give up, or ambiguous").
"""

import re
from dataclasses import dataclass, field

import phonenumbers
import requests
from urllib3.exceptions import NewConnectionError

from ordertrack.masking import mask_phone
from ordertrack.notifications.errors import DeliveryError
from ordertrack.notifications.retry_after import retry_after

__all__ = [
    "DeliveryError",
    "TwilioConfig",
    "fit_body",
    "mask_phone",
    "normalize_phone",
    "retry_after",
    "send",
]

MESSAGES_PATH = "/2010-04-01/Accounts/{sid}/Messages.json"
#: Twilio's limit on Body (error 21617 past it). Longer than one segment is fine: the carrier
#: joins the segments. Twilio counts a character outside the BMP (an emoji) as two.
MAX_BODY_CHARS = 1600
#: Reasons are stored and shown to the merchant; Twilio's messages are short.
MAX_REASON_CHARS = 500

# Twilio's error codes on a create-Message request, with what each means for a retry. A code
# not listed here follows its HTTP status: 429 and 5xx are retried, any other 4xx is final.
# Sources: twilio.com/docs/api/errors/<code>; the test-credentials "magic numbers" page
# (+15005550001 -> 21211, 0002 -> 21612, 0003 -> 21408, 0004 -> 21610, 0009 -> 21614,
# From 0008 -> 21611).
PERMANENT = True
TRANSIENT = False
TWILIO_CODES: dict[int, tuple[bool, str]] = {
    # The recipient's number can never receive this text.
    21211: (PERMANENT, "invalid 'To' number"),
    21265: (PERMANENT, "'To' is a short code"),
    21266: (PERMANENT, "'To' is our own 'From'"),
    21610: (PERMANENT, "recipient unsubscribed (replied STOP)"),  # until they text START
    21612: (PERMANENT, "no route between this 'From' and 'To'"),
    21614: (PERMANENT, "'To' is not a mobile number"),
    21635: (PERMANENT, "'To' is a landline"),
    # Our Twilio set-up refuses this destination: retrying unchanged cannot help; once the
    # set-up is fixed the merchant resends from the failed list.
    21408: (PERMANENT, "SMS to this region is not enabled (Geo permissions)"),
    21606: (PERMANENT, "'From' cannot send to this destination"),
    21608: (PERMANENT, "trial account: 'To' is not a verified number"),
    21659: (PERMANENT, "'From' is not a Twilio number, or short code country mismatch"),
    # The request itself is wrong (a bug of ours: bodies are capped, numbers normalised).
    21602: (PERMANENT, "message body is required"),
    21604: (PERMANENT, "'To' is required"),
    21617: (PERMANENT, "body over 1600 characters"),
    # Come back later.
    20429: (TRANSIENT, "too many concurrent requests"),
    20500: (TRANSIENT, "Twilio internal error: the text may have been sent"),
    21611: (TRANSIENT, "'From' queue is full (over 10 hours of messages)"),
    # Wrong credentials are retried, not failed for good: they are our fault, not the
    # recipient's, a token rotation fixes them within minutes, and failing every text of that
    # window for good would lose them. The sender's attempt limit still ends the retries.
    20003: (TRANSIENT, "authentication failed: check TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"),
}
#: HTTP statuses that are worth another try without a Twilio code saying so.
RETRY_STATUSES = frozenset({401, 408, 429})


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str
    auth_token: str = field(repr=False)
    #: TWILIO_FROM: an E.164 number, a short code, an alphanumeric sender, or a Messaging
    #: Service SID ("MG...") that picks the sender itself.
    sender: str
    api_base: str = "https://api.twilio.com"
    status_callback_url: str | None = None
    timeout: float = 10.0


def send(
    config: TwilioConfig,
    to: str,
    body: str,
    *,
    idempotency_key: str | None = None,
    session: requests.Session | None = None,
) -> str | None:
    """Create one Message; return its SID (None if a 2xx carried none: Twilio took it, and a
    retry would text twice). `idempotency_key` is accepted for the channel contract but not
    sent: Twilio documents no idempotency header for creating a Message (its
    I-Twilio-Idempotency-Token is a header Twilio puts on the webhooks it sends us)."""
    del idempotency_key
    url = config.api_base.rstrip("/") + MESSAGES_PATH.format(sid=config.account_sid)
    try:
        response = (session or requests).post(
            url,
            data=_form(config, to, body),
            auth=(config.account_sid, config.auth_token),
            timeout=config.timeout,
            allow_redirects=False,  # a redirected POST would be replayed as a GET
        )
    except requests.exceptions.ReadTimeout:
        raise DeliveryError(
            "Twilio did not answer in time (it may have sent the text)",
            permanent=False,
            ambiguous=True,
        ) from None
    except requests.RequestException as exc:
        raise DeliveryError(
            f"no answer from Twilio: {type(exc).__name__}",
            permanent=False,
            ambiguous=_may_have_arrived(exc),
        ) from None
    if 200 <= response.status_code < 300:
        return _message_sid(response)
    raise _classified(response, config, to)


def _may_have_arrived(exc: requests.RequestException) -> bool:
    """False only when the request cannot have reached Twilio: no connection was ever made
    (refused, no such host, a connect timeout, a failed TLS handshake)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout | requests.exceptions.SSLError):
        return False
    if isinstance(exc, requests.exceptions.ConnectionError) and exc.args:
        return not isinstance(getattr(exc.args[0], "reason", None), NewConnectionError)
    return True


def _form(config: TwilioConfig, to: str, body: str) -> dict[str, str]:
    sender_field = "MessagingServiceSid" if config.sender.startswith("MG") else "From"
    form = {"To": to, sender_field: config.sender, "Body": fit_body(body)}
    if config.status_callback_url:
        form["StatusCallback"] = config.status_callback_url
    return form


def _message_sid(response: requests.Response) -> str | None:
    try:
        sid = response.json().get("sid")
    except (ValueError, AttributeError):
        return None
    return sid if isinstance(sid, str) and sid else None


def _classified(response: requests.Response, config: TwilioConfig, to: str) -> DeliveryError:
    status = response.status_code
    code, message = _twilio_error(response)
    permanent, meaning = TWILIO_CODES.get(code, (None, None)) if code else (None, None)
    if permanent is None:
        permanent = 400 <= status < 500 and status not in RETRY_STATUSES
    head = f"Twilio {code}" if code else f"Twilio HTTP {status}"
    reason = f"{head} ({meaning}): {message}" if meaning else f"{head}: {message}"
    reason = scrub(reason.rstrip(": "), config, to)[:MAX_REASON_CHARS]
    wait = retry_after(response.headers.get("Retry-After")) if status == 429 else None
    return DeliveryError(
        reason,
        permanent=permanent,
        retry_after=wait,
        opted_out=code == 21610,
        # A 5xx may come after Twilio created the text (20500): look before sending again.
        ambiguous=status >= 500,
    )


def _twilio_error(response: requests.Response) -> tuple[int | None, str]:
    try:
        payload = response.json()
        code, message = payload.get("code"), payload.get("message")
    except (ValueError, AttributeError):
        return None, response.reason or ""
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    return code, message if isinstance(message, str) else (response.reason or "")


# Twilio's messages quote the number they refused ("The 'To' number 5551234567 is not a
# valid phone number."): any run of seven or more digits is masked.
_DIGIT_RUN = re.compile(r"\+?\d[\d ().-]{5,}\d")


def scrub(text: str, config: TwilioConfig, to: str) -> str:
    """`text` with the recipient's number, any phone-like digits and the auth token masked."""
    if config.auth_token:
        text = text.replace(config.auth_token, "[auth token]")
    if to:
        text = text.replace(to, mask_phone(to))
    return _DIGIT_RUN.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    run = match.group(0)
    return mask_phone(run) if sum(c.isdigit() for c in run) >= 7 else run


def fit_body(body: str) -> str:
    """`body` cut to Twilio's 1600-character limit with an ellipsis, never mid-character."""
    if _twilio_length(body) <= MAX_BODY_CHARS:
        return body
    kept, used = [], 0
    for char in body:
        used += _twilio_length(char)
        if used > MAX_BODY_CHARS - 1:
            break
        kept.append(char)
    return "".join(kept).rstrip() + "…"


def _twilio_length(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


_LETTERS = re.compile(r"[^\W\d_]")


def normalize_phone(raw: str | None, default_region: str | None) -> str | None:
    """The E.164 form of a customer's number ("+15555550142"), or None when it cannot be one.

    National numbers need the country's rules (the UK drops its trunk 0, Italy keeps it), so
    libphonenumber parses them, with `default_region` (ISO 3166 alpha-2, the shipping
    country) for numbers without a +. Only the length is checked, not the number ranges:
    metadata goes stale, test numbers (555) must pass, and Twilio is the judge (21211).
    Refused: letters (vanity numbers, "ext"), extensions, local-only numbers."""
    if not raw or len(raw) > 64 or _LETTERS.search(raw):
        return None
    region = default_region.upper() if default_region else None
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    reason = phonenumbers.is_possible_number_with_reason(number)
    if number.extension or reason != phonenumbers.ValidationResult.IS_POSSIBLE:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
