"""The customer's side under attack (docs/reliability.md, "The tracking page"; docs/faults.md,
TRK-1 to TRK-5): order numbers enumerated, emails guessed, tracking numbers tried alone, links
tampered with, and customer A's links turned on customer B's order on every route of the app.
The whole service on PostgreSQL, its look-up limits counted in a private Redis as deployed; A is
the story's order #1042 (delivered), B is Grace's #2077 (shipped)."""

import re
import time
from collections.abc import Callable, Iterator
from statistics import median

import pytest
from sqlalchemy import func, select
from werkzeug.routing import Rule

from ordertrack.notifications.links import tracking_token, unsubscribe_token
from ordertrack.store.models import Inbox, Order, Outbox, Unsubscribe
from ordertrack.store.return_models import Return
from service import returns_page, tracking
from tests.support import other_customer as b
from tests.support.forged_tokens import (
    bad_tracking_tokens,
    bad_unsubscribe_tokens,
    signed_days_ago,
    tracking_serializer,
    unsubscribe_serializer,
    with_payload,
)
from tests.support.harness import Service
from tests.support.processes import RedisServer
from tests.support.shared_service import shared_service
from tests.support.webhooks import ORDER_ID, STORY

A_EMAIL = "ada@example.com"
USPS, UPS = "9400111899223344556677", "1Z999AA10123456784"
#: A's line item, which A may return (the order is delivered).
POSTER = "13001234567890"
#: Shopify's three weeks (docs/reliability.md, "The tracking page"): the expired link is 22
#: days old.
LINK_DAYS = 21
#: The matrix's 10 000 enumerated numbers and 1000 guesses, scaled to the fault suite's budget.
N_NUMBERS = 300
N_GUESSES = 200
#: One number in this many is a real order.
EVERY = 10
#: Rounds of each real number timed beside a missing one: enough pairs (120) that the median
#: gap is steady on a busy machine. Each is a miss against that number's lockout (10).
PAIR_ROUNDS = 3


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Iterator[Service]:
    """One shop for the module's attacks: each leaves no trace another would see, and each
    asks from client addresses of its own (`_client`)."""
    redis = RedisServer(tmp_path_factory.mktemp("redis")).start()
    settings = {"TRACKING_LINK_DAYS": str(LINK_DAYS), "RETURN_WINDOW_DAYS": "36500"}
    try:
        with shared_service(REDIS_URL=redis.url, **settings) as (service, _, _):
            for request in [*STORY, *b.b_story()]:
                assert service.post(request).status_code == 202, request.name
            service.drain()
            yield service
    finally:
        redis.stop()


# -- reading the shop ------------------------------------------------------------------------


def _keys(shop: Service) -> tuple[bytes, ...]:
    return shop.app.extensions["ordertrack"].link_keys


def _order_id(shop: Service, external_id: str) -> int:
    with shop.runtime.sessions() as session:
        return session.scalar(select(Order.id).where(Order.external_id == external_id))


def _emails_to(shop: Service, external_id: str) -> list[int]:
    with shop.runtime.sessions() as session:
        query = (
            select(Outbox.id)
            .join(Order, Order.id == Outbox.order_id)
            .where(Order.external_id == external_id, Outbox.channel == "email")
        )
        return list(session.scalars(query.order_by(Outbox.id)))


def _footprint(shop: Service, external_id: str) -> dict:
    """What an attack on an order could change: its state, its messages, its returns, its
    recipients' unsubscribes; and the inbox (a forged webhook must not land)."""
    with shop.runtime.sessions() as session:
        order = session.scalars(select(Order).where(Order.external_id == external_id)).one()
        messages = session.execute(
            select(Outbox.id, Outbox.status, Outbox.attempts, Outbox.recipient)
            .where(Outbox.order_id == order.id)
            .order_by(Outbox.id)
        ).all()
        recipients = {row.recipient for row in messages}
        return {
            "status": (order.status, order.updated_at),
            "messages": [tuple(row) for row in messages],
            "returns": session.scalar(select(func.count()).where(Return.order_id == order.id)),
            "unsubscribed": session.scalar(
                select(func.count()).where(Unsubscribe.recipient.in_(recipients))
            ),
            "inbox": session.scalar(select(func.count()).select_from(Inbox)),
        }


# -- asking ----------------------------------------------------------------------------------


def _ask(shop: Service, number: str, email: str, address: str, **form):
    data = {"order_number": number, "email": email, **form}
    return shop.client.post("/track", data=data, environ_base={"REMOTE_ADDR": address})


def _reveals(body: str, details=(*b.DETAILS, *b.A_DETAILS)) -> list[str]:
    """The details found in `body`; a bare number only as a number of its own (not the
    digits of a count such as 2077.0 in /metrics)."""
    return [detail for detail in details if _found(detail, body)]


def _found(detail: str, body: str) -> bool:
    if not detail.isdigit():
        return detail in body
    return re.search(rf"(?<![\d.]){detail}(?!\.?\d)", body) is not None


def _client(test: int, n: int) -> str:
    """The `n`th client address of one test: each test counts against limits of its own."""
    return f"10.{test}.{n // 256}.{n % 256}"


#: Headers that differ by design: the Content-Security-Policy's nonce (fresh each time), and
#: the seconds left to wait, which count down.
_VARYING = {"Content-Security-Policy", "Retry-After"}


def _one_answer(responses) -> bytes:
    """The responses are one answer: the same status, the same bytes, the same headers (but
    those that vary by design); that answer's body."""
    assert len({r.status_code for r in responses}) == 1, [r.status_code for r in responses]
    bodies = {r.get_data() for r in responses}
    assert len(bodies) == 1, f"{len(bodies)} different bodies"
    shapes = {tuple(sorted(name for name, _ in r.headers)) for r in responses}
    assert len(shapes) == 1, shapes
    for name in {name for name, _ in responses[0].headers} - _VARYING:
        assert len({r.headers[name] for r in responses}) == 1, name
    return bodies.pop()


# -- TRK-1 -----------------------------------------------------------------------------------


@pytest.mark.fault("TRK-1")
def test_enumerating_order_numbers_gets_one_answer_for_all_and_is_rate_limited(shop, figures):
    first = 3000
    real = set(range(first + EVERY // 2, first + N_NUMBERS, EVERY))
    for number in sorted(real):
        assert shop.post(b.numbered_order(number, f"owner{number}@example.net")).status_code == 202
    shop.drain()
    _ask(shop, "#1", "warm@example.net", _client(1, 250))  # first-request costs

    # Every number once, then each real one again beside a missing one, now after it, now
    # before it: each real look-up is timed against its neighbour (a busy machine slows both).
    asked = list(range(first, first + N_NUMBERS))
    pairs = [(i, i - 1) for i, number in enumerate(asked) if number in real]
    missing = iter(range(first + N_NUMBERS, first + 2 * N_NUMBERS))
    for round_ in range(PAIR_ROUNDS):
        for number in sorted(real):
            pair = [number, next(missing)][:: 1 if round_ % 2 else -1]
            at = len(asked)
            asked += pair
            pairs.append((at + pair.index(number), at + 1 - pair.index(number)))
    answers, seconds = [], []
    for i, number in enumerate(asked):
        address = _client(1, i // tracking.LOOKUP_LIMIT)  # a new one as each is limited
        started = time.perf_counter()
        answers.append(_ask(shop, f"#{number}", "guess@example.net", address))
        seconds.append(time.perf_counter() - started)
    gaps = [seconds[real_at] - seconds[missing_at] for real_at, missing_at in pairs]

    assert all(r.status_code == 200 for r in answers)
    body = _one_answer(answers).decode()
    assert "No order matched" in body
    assert not _reveals(body, (*b.A_DETAILS, "owner", "@example.net"))
    gap_ms = median(gaps) * 1000
    assert abs(gap_ms) < 5, f"a real number's miss takes {gap_ms:.2f} ms longer (median)"
    # The numbers were real: the right pair opens the page.
    some = min(real)
    assert _ask(shop, f"#{some}", f"owner{some}@example.net", _client(1, 251)).status_code == 303

    # Sequential internal ids are no links either.
    ids = [shop.client.get(f"/t/{n}") for n in range(1, 60)]
    assert all(r.status_code == 404 for r in ids)
    _one_answer(ids)

    # One client, one number after another: refused from the limit on, whatever the number.
    numbers = range(first + 1, first + 1 + 3 * tracking.LOOKUP_LIMIT)
    burst = [_ask(shop, f"#{n}", "guess@example.net", _client(1, 252)) for n in numbers]
    codes = [r.status_code for r in burst]
    allowed = codes.index(429)
    assert codes == [200] * allowed + [429] * (len(codes) - allowed)
    assert allowed <= 30, "the matrix: 429 after at most 30 look-ups a minute"
    refused = burst[allowed:]
    assert real & set(numbers[allowed:]), "real and missing numbers among the refused"
    limited = _one_answer(refused).decode()
    assert "Too many attempts" in limited and not _reveals(limited)
    retry_after = int(refused[0].headers["Retry-After"])
    assert 0 < retry_after <= tracking.LOOKUP_WINDOW

    figures.add("N", f"{len(asked)} look-ups, {len(real)} of the numbers real")
    figures.add("distinct answers", 1)
    figures.add("median gap real vs missing", f"{gap_ms:.2f} ms over {len(gaps)} pairs")
    figures.add("limit", f"429 after {allowed} look-ups per client, Retry-After {retry_after} s")


# -- TRK-2 -----------------------------------------------------------------------------------


def _events(shop: Service, token: str):
    response = shop.client.get(f"/t/{token}/events", buffered=False)
    response.close()  # a valid link opens a stream: its first answer is all that is wanted
    return response


def _return_form(shop: Service, order_id: int, **form) -> dict:
    return {"form_token": returns_page.form_token(_keys(shop), order_id), **form}


#: The routes that take a customer's token, by endpoint and method: how each is called with
#: a token, for the order the token is for (A's form, when the route needs one).
PROBES: dict[tuple[str, str], Callable] = {
    ("tracking.page", "GET"): lambda shop, token, a: shop.client.get(f"/t/{token}"),
    ("tracking.events", "GET"): lambda shop, token, a: _events(shop, token),
    ("returns_page.request_return", "POST"): lambda shop, token, a: shop.client.post(
        f"/t/{token}/returns",
        data=_return_form(shop, a, reason="damaged", **{f"qty_{POSTER}": "1"}),
    ),
    ("unsubscribe.confirm", "GET"): lambda shop, token, a: shop.client.get(f"/unsubscribe/{token}"),
    ("unsubscribe.unsubscribe", "POST"): lambda shop, token, a: shop.client.post(
        f"/unsubscribe/{token}"
    ),
}


@pytest.mark.fault("TRK-2")
def test_tampered_truncated_foreign_and_expired_links_are_denied_alike_on_every_token_route(
    shop, figures
):
    a, keys = _order_id(shop, ORDER_ID), _keys(shop)
    email = _emails_to(shop, ORDER_ID)[0]
    before = _footprint(shop, ORDER_ID)
    bad = {
        "tracking": bad_tracking_tokens(keys, a, LINK_DAYS),
        "unsubscribe": bad_unsubscribe_tokens(keys, email),
    }
    pages, sent = {}, 0
    for (endpoint, method), probe in PROBES.items():
        kind = "unsubscribe" if endpoint.startswith("unsubscribe") else "tracking"
        answers = [probe(shop, token, a) for token in bad[kind]]
        sent += len(answers)
        assert all(r.status_code == 404 for r in answers), (endpoint, method)
        pages[endpoint, method] = _one_answer(answers)
        assert not _reveals(pages[endpoint, method].decode()), (endpoint, method)
    tracking_pages = {
        page for (endpoint, _), page in pages.items() if "unsubscribe" not in endpoint
    }
    assert len(tracking_pages) == 1, "every route under /t/ answers a bad link alike"
    assert _footprint(shop, ORDER_ID) == before, "no return requested, no one unsubscribed"

    # The genuine links work on each route (without requesting or unsubscribing anything).
    good = tracking_token(keys, a)
    assert "Analytical Engine Poster" in shop.client.get(f"/t/{good}").get_data(as_text=True)
    assert _events(shop, good).status_code == 200
    refused = shop.client.post(f"/t/{good}/returns", data=_return_form(shop, a))
    assert refused.status_code == 400 and "Please choose a reason" in refused.get_data(as_text=True)
    assert shop.client.get(f"/unsubscribe/{unsubscribe_token(keys, email)}").status_code == 200
    # A link 20 days old still opens; the 22-day-old one above did not.
    assert shop.client.get(f"/t/{signed_days_ago(keys, a, LINK_DAYS - 1)}").status_code == 200

    figures.add(
        "bad links", f"{len(bad['tracking'])} tracking, {len(bad['unsubscribe'])} unsubscribe"
    )
    figures.add("requests", f"{sent} on {len(PROBES)} routes: all 404, one body per route")


# -- TRK-3 -----------------------------------------------------------------------------------


@pytest.mark.fault("TRK-3")
def test_guessing_the_email_of_an_order_number_is_answered_alike_then_locked(shop, figures):
    miss = _ask(shop, "#9999", A_EMAIL, _client(3, 0))
    spellings = ("#1042", "1042", " #1042 ")
    guesses = [
        # A new address every few guesses: many addresses cannot spread the guessing out.
        _ask(shop, spellings[n % 3], f"guess{n}@example.com", _client(3, 1 + n // 4))
        for n in range(N_GUESSES)
    ]
    codes = [r.status_code for r in guesses]
    allowed = codes.index(429)
    assert codes == [200] * allowed + [429] * (N_GUESSES - allowed)
    assert allowed <= 10, "the matrix: locked out after at most 10 failures"
    assert _one_answer([miss, *guesses[:allowed]]), "a wrong email reads as no such order"
    locked = guesses[allowed:]
    retry_after = int(locked[0].headers["Retry-After"])
    assert 0 < retry_after <= 3600, "locked per order number for at most an hour"

    # Locked even for the right answers, from a fresh address: no oracle.
    right = [
        _ask(shop, "#1042", A_EMAIL, _client(3, 300)),
        _ask(shop, "#1042", "10001", _client(3, 301)),
    ]
    body = _one_answer([*locked, *right]).decode()
    assert "Too many attempts" in body and not _reveals(body)
    # The lock is that order number's: B's order is found as ever.
    assert _ask(shop, b.NAME, b.EMAIL, _client(3, 302)).status_code == 303

    figures.add("N", f"{N_GUESSES} guesses from {N_GUESSES // 4} addresses")
    figures.add("locked after", f"{allowed} failures, Retry-After {retry_after} s")


# -- TRK-4 -----------------------------------------------------------------------------------


@pytest.mark.fault("TRK-4")
def test_a_tracking_number_alone_reveals_nothing_of_the_order(shop, figures):
    """ordertrack has no look-up by tracking number: with one alone a customer gets the
    miss every look-up gets, so no name, address, email, phone or item can show."""
    miss = _ask(shop, "#9999", "nobody@example.net", _client(4, 0))
    form_page = shop.client.get("/track")
    not_found = shop.client.get("/t/not-a-token")
    tried = 0
    for number in (USPS, UPS):
        looked_up = [
            _ask(shop, number, "", _client(4, 1 + tried)),
            _ask(shop, number, number, _client(4, 2 + tried)),
            _ask(shop, number, "10001", _client(4, 3 + tried)),
            _ask(shop, "", number, _client(4, 4 + tried)),
            _ask(shop, "", "", _client(4, 5 + tried), tracking_number=number),
        ]
        tried += len(looked_up)
        _one_answer([miss, *looked_up])
        _one_answer([form_page, shop.client.get(f"/track?tracking_number={number}")])
        _one_answer([not_found, shop.client.get(f"/t/{number}")])
        for path in (f"/api/v1/shipments/usps/{number}", f"/api/v1/shipments/ups/{number}"):
            unauthenticated = shop.client.get(path)
            assert unauthenticated.status_code == 401
            assert not _reveals(unauthenticated.get_data(as_text=True))
            tried += 1
    for answer in (miss, form_page, not_found):
        assert not _reveals(answer.get_data(as_text=True))
    figures.add("tries", f"{tried} with a tracking number alone: the miss page, 0 PII fields")


# -- TRK-5 -----------------------------------------------------------------------------------

#: How each blueprint's routes are guarded; a route that takes a `token` is a customer's.
GUARDS = {
    "api": "API token",
    "returns_api": "API token",
    "reports_api": "API token",
    "console": "console session",
    "webhooks": "provider signature",
    "twilio_status": "provider signature",
    "health": "public",
    "metrics": "public",
    "api_docs": "public",
    "static": "public",
}
#: Routes anyone may call: the look-up form (TRK-1, TRK-3) and the console's sign-in.
PUBLIC_ENDPOINTS = {
    "tracking.lookup_form",
    "tracking.lookup",
    "console.login_form",
    "console.login",
}


def _guard(rule: Rule) -> str | None:
    if "token" in rule.arguments:
        return "customer token"
    if rule.endpoint in PUBLIC_ENDPOINTS:
        return "public"
    return GUARDS.get(rule.endpoint.rpartition(".")[0] or rule.endpoint)


def _routes(shop: Service) -> list[tuple[Rule, str]]:
    return [
        (rule, method)
        for rule in shop.app.url_map.iter_rules()
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


@pytest.mark.fault("TRK-2", "TRK-5")
def test_every_route_is_guarded_and_every_token_route_is_probed(shop, figures):
    """A new route fails here until it is put under a guard, and a new route that takes a
    customer's token until TRK-2 and TRK-5 probe it."""
    unguarded = [rule.rule for rule, _ in _routes(shop) if _guard(rule) is None]
    assert not unguarded, f"routes under no known guard: {unguarded}"
    token_routes = {(r.endpoint, m) for r, m in _routes(shop) if _guard(r) == "customer token"}
    assert token_routes == set(PROBES), token_routes ^ set(PROBES)
    figures.add("url_map", f"{len(_routes(shop))} route-methods, {len(token_routes)} take a token")


@pytest.mark.fault("TRK-5")
def test_customer_a_cannot_reach_customer_b_on_any_route(shop, figures):
    """OWASP's test: signed in as A (A's links), try each of B's objects on every route."""
    keys = _keys(shop)
    a, b_id = _order_id(shop, ORDER_ID), _order_id(shop, b.ORDER_ID)
    a_email, b_email = _emails_to(shop, ORDER_ID)[0], _emails_to(shop, b.ORDER_ID)[0]
    a_link, a_unsubscribe = tracking_token(keys, a), unsubscribe_token(keys, a_email)
    with shop.runtime.sessions() as session:
        b_inbox = session.scalar(select(func.min(Inbox.id)).where(Inbox.dedupe_key.like("b-%")))
    before = _footprint(shop, b.ORDER_ID)
    # A's genuine signatures around B's ids: A's links "edited" to name B's order.
    on_b = with_payload(a_link, b_id, tracking_serializer(keys))
    b_message = with_payload(a_unsubscribe, b_email, unsubscribe_serializer(keys))
    b_form = _return_form(shop, b_id, reason="damaged", **{f"qty_{b.LINE_ITEMS[0]}": "1"})
    b_items = _return_form(shop, a, reason="damaged", **{f"qty_{b.LINE_ITEMS[0]}": "1"})
    attempts = {
        ("tracking.page", "GET"): [
            shop.client.get(f"/t/{on_b}"),
            shop.client.get(f"/t/{on_b}?fragment=1"),
        ],
        ("tracking.events", "GET"): [_events(shop, on_b)],
        ("returns_page.request_return", "POST"): [
            shop.client.post(f"/t/{on_b}/returns", data=b_form),
            shop.client.post(f"/t/{a_link}/returns", data=b_form),  # B's form under A's link
            shop.client.post(f"/t/{a_link}/returns", data=b_items),  # B's items on A's form
        ],
        ("unsubscribe.confirm", "GET"): [shop.client.get(f"/unsubscribe/{b_message}")],
        ("unsubscribe.unsubscribe", "POST"): [shop.client.post(f"/unsubscribe/{b_message}")],
    }
    for (endpoint, method), answers in attempts.items():
        for answer in answers:
            assert answer.status_code in (400, 404), (endpoint, method, answer.status_code)
            assert not _reveals(answer.get_data(as_text=True), b.DETAILS), (endpoint, method)
    # A's own page, asked about B in every way a query string could: still A's, never B's.
    for query in (f"order={b_id}", f"order_id={b_id}", f"id={b_id}", f"order_number={b.NAME}"):
        page = shop.client.get(f"/t/{a_link}?{query}").get_data(as_text=True)
        assert "Analytical Engine Poster" in page and not _reveals(page, b.DETAILS), query

    # Every other route, with B's ids in the path and A's links as the only credentials.
    values = {
        "platform": "shopify",
        "external_id": b.ORDER_ID,
        "outbox_id": b_email,
        "return_id": 1,
        "inbox_id": b_inbox,
        "step": "approve",
        "user_id": 1,
        "carrier": "usps",
        "tracking_number": b.DETAILS[8],
        "source": "shopify",
        "filename": "x.css",
    }
    credentials = {"Authorization": f"Bearer {a_link}", "Cookie": f"session={a_link}"}
    probed = 0
    for rule, method in _routes(shop):
        guard = _guard(rule)
        if guard == "customer token":
            continue
        path = rule.build({k: values[k] for k in rule.arguments})[1]
        form = {"csrf_token": a_link, "order_number": b.NAME, "email": a_link, "token": a_link}
        answer = shop.client.open(
            f"{path}?token={a_unsubscribe}", method=method, headers=credentials, data=form
        )
        probed += 1
        # What the path names (a redirect to sign in echoes it) is what A already knew.
        unknown = [detail for detail in b.DETAILS if detail not in path]
        body = answer.get_data(as_text=True)
        assert not _reveals(body, unknown), (rule.rule, method, answer.status_code)
        if guard != "public":  # refused, or sent to sign in
            signing_in = answer.status_code == 303 and answer.location.startswith("/admin/login")
            assert signing_in or 400 <= answer.status_code < 500, (rule.rule, method, answer.status)

    assert _footprint(shop, b.ORDER_ID) == before, "B's order, messages, returns untouched"
    attempted = sum(len(answers) for answers in attempts.values())
    figures.add("token routes", f"{len(PROBES)}, {attempted} attempts on B: all denied")
    figures.add("other routes", f"{probed} route-methods with A's links: 0 of B's details")
