"""Every bad input to POST /webhooks/<source>: each is answered with its 4xx and a JSON error
naming the problem, never a 5xx; nothing is stored for it; and valid deliveries posted before
and after it are still accepted and processed. On SQLite and PostgreSQL (`database_url`)."""

import dataclasses
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from ordertrack.store.models import History, Inbox, Order
from tests.support.harness import Service
from tests.support.webhooks import (
    ORDER_ID,
    SECRETS,
    Request,
    easypost,
    easypost_signature,
    fixture_body,
    shopify,
    shopify_signature,
)

#: Valid traffic posted before and after each bad input; both must end up processed.
VALID_BEFORE = shopify("orders_create")
VALID_AFTER = shopify("orders_paid")
OTHER_ORDER_ID = "5531234567999"  # orders_cancelled.json is order #1043

#: A body size that fits every valid fixture used here, for the small-limit service.
SMALL_LIMIT = 16 * 1024


# -- building requests ------------------------------------------------------------------------


def _json(value: object) -> bytes:
    return json.dumps(value).encode()


def _fixture(source: str, name: str) -> dict:
    return json.loads(fixture_body(source, name))


def _without_key(document: dict, *path: str) -> dict:
    """A deep copy of `document` with the key at `path` removed."""
    document = json.loads(json.dumps(document))
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    del parent[path[-1]]
    return document


def _headers(request: Request, drop: tuple[str, ...] = (), **replace: str) -> Request:
    """The same request with headers dropped or replaced (underscores in names become dashes)."""
    headers = {k: v for k, v in request.headers.items() if k not in drop}
    headers.update({name.replace("_", "-"): value for name, value in replace.items()})
    return dataclasses.replace(request, headers=headers)


def _signed_shopify(body: bytes, name: str = "orders_create") -> Request:
    """A body validly signed as Shopify would, under a fresh delivery id."""
    return shopify(name, body=body, webhook_id=hashlib.sha256(body).hexdigest())


def _padded(request: Request, size: int) -> Request:
    """The same JSON document, padded with trailing whitespace to exactly `size` bytes."""
    body = request.body + b" " * (size - len(request.body))
    assert len(body) == size
    return dataclasses.replace(
        request,
        body=body,
        headers={
            **request.headers,
            "X-Shopify-Hmac-Sha256": shopify_signature(body, SECRETS["shopify"]),
        },
    )


def _nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


# -- reading the database ---------------------------------------------------------------------


def _count(service: Service, model) -> int:
    with service.runtime.engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar_one()


def _inbox(service: Service) -> list[tuple[str, str, str]]:
    with service.runtime.engine.connect() as connection:
        rows = connection.execute(
            select(Inbox.source, Inbox.topic, Inbox.status).order_by(Inbox.id)
        ).all()
    return [tuple(row) for row in rows]


# -- the one assertion every bad input shares -------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Refusal:
    """A bad request, the status it must get, words its error must contain, and optionally
    the path into `details` that must name the offending field."""

    name: str
    request: Request
    status: int
    says: str
    names_field: tuple[str, ...] = ()


def _assert_refused(service: Service, case: Refusal) -> None:
    stored = _count(service, Inbox)
    response = service.post(case.request)
    where = f"{case.name}: {response.status_code} {response.get_data()[:300]!r}"
    assert response.status_code == case.status, where
    assert response.is_json, where
    assert response.json["status"] == case.status, where
    assert case.says.lower() in response.json["error"].lower(), where
    details = response.json.get("details")
    for key in case.names_field:
        assert isinstance(details, dict) and key in details, where
        details = details[key]
    assert _count(service, Inbox) == stored, f"{case.name} stored a row"


def _assert_valid_traffic_flows(service: Service, request: Request) -> None:
    response = service.post(request)
    assert response.status_code == 202, (request.name, response.json)
    assert response.json["status"] == "accepted"


def _refused_amid_valid_traffic(service: Service, cases: list[Refusal]) -> None:
    """Valid delivery, every bad one, valid delivery: the valid two are processed as usual."""
    _assert_valid_traffic_flows(service, VALID_BEFORE)
    for case in cases:
        _assert_refused(service, case)
    _assert_valid_traffic_flows(service, VALID_AFTER)
    service.drain()
    assert _inbox(service) == [
        ("shopify", "orders/create", "processed"),
        ("shopify", "orders/paid", "processed"),
    ]
    assert service.order(ORDER_ID)["status"] == "processing"


def _ids(cases: list[Refusal]) -> list[str]:
    names = [case.name for case in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return names


# -- services with their own environment, and the real HTTP server ----------------------------


@contextmanager
def _served(service: Service) -> Iterator[str]:
    """The app behind werkzeug's threaded HTTP server on a free port: real sockets, real
    chunked decoding, real concurrency (the Flask test client is none of those)."""
    server = make_server("127.0.0.1", 0, service.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def _http_post(base_url: str, request: Request, body=None) -> requests.Response:
    data = request.body if body is None else body
    return requests.post(base_url + request.path, data=data, headers=request.headers, timeout=20)


# -- malformed bodies: 400 --------------------------------------------------------------------

_ORDER_BODY = fixture_body("shopify", "orders_create")
_EVENT_BODY = fixture_body("easypost", "tracker_updated__in_transit")


def _order_with(member: bytes) -> Request:
    """The valid orders/create body with one more member first, validly signed: were the member
    let through, the order would be accepted, so only strictness refuses it."""
    return _signed_shopify(b"{" + member + b", " + _ORDER_BODY[1:])


def _event_with(member: bytes) -> Request:
    return easypost("x", body=b"{" + member + b", " + _EVENT_BODY[1:])


MALFORMED = [
    Refusal("truncated JSON", _signed_shopify(_ORDER_BODY[:-20]), 400, "JSON"),
    Refusal("trailing garbage", _signed_shopify(_ORDER_BODY + b" {}"), 400, "JSON"),
    Refusal("invalid UTF-8", _order_with(b'"note_x": "caf\xe9"'), 400, "UTF-8"),
    Refusal("nested 1000 levels", _order_with(b'"note_x": ' + _nested(1_000)), 400, "deeper"),
    Refusal(
        "nested 100000 levels",
        _order_with(b'"note_x": ' + b"[" * 100_000 + b"]" * 100_000),
        400,
        "deeper",
    ),
    Refusal("5000-digit integer", _order_with(b'"number_x": ' + b"7" * 5000), 400, "digits"),
    Refusal("NaN", _order_with(b'"number_x": NaN'), 400, "NaN"),
    Refusal("Infinity", _order_with(b'"number_x": Infinity'), 400, "Infinity"),
    Refusal("-Infinity", _order_with(b'"number_x": -Infinity'), 400, "Infinity"),
    Refusal("1e999", _order_with(b'"number_x": 1e999'), 400, "too large"),
    Refusal("duplicate keys", _order_with(b'"id": 1'), 400, "duplicate"),
    Refusal("duplicate keys nested", _order_with(b'"x": {"k": 1, "k": 2}'), 400, "duplicate"),
    Refusal("lone surrogate", _order_with(b'"note_x": "#\\ud800"'), 400, "surrogate"),
    Refusal("empty body", _signed_shopify(b""), 400, "JSON"),
    Refusal("EasyPost duplicate keys", _event_with(b'"id": "evt_other"'), 400, "duplicate"),
    Refusal("EasyPost NaN", _event_with(b'"weight_x": NaN'), 400, "NaN"),
    Refusal(
        "EasyPost lone surrogate in the event id",
        easypost("x", body=_EVENT_BODY.replace(b'"id": "evt_', b'"id": "\\udfffevt_', 1)),
        400,
        "surrogate",
    ),
]


def test_malformed_bodies_validly_signed_are_refused_400_and_nothing_is_stored(service):
    _ids(MALFORMED)
    _refused_amid_valid_traffic(service, MALFORMED)


# -- not JSON: 415 ----------------------------------------------------------------------------

NOT_JSON = [
    Refusal(
        "text/plain",
        _headers(shopify("orders_create"), Content_Type="text/plain"),
        415,
        "text/plain",
    ),
    Refusal(
        "form-encoded",
        _headers(shopify("orders_create"), Content_Type="application/x-www-form-urlencoded"),
        415,
        "application/x-www-form-urlencoded",
    ),
    Refusal(
        "no content type", _headers(shopify("orders_create"), drop=("Content-Type",)), 415, "none"
    ),
    Refusal(
        "empty body, no content type",
        _headers(_signed_shopify(b""), drop=("Content-Type",)),
        415,
        "application/json",
    ),
    Refusal(
        "EasyPost as text/plain",
        _headers(easypost("tracker_created"), Content_Type="text/plain"),
        415,
        "json",
    ),
]


def test_bodies_not_sent_as_json_are_refused_415(service):
    _ids(NOT_JSON)
    _refused_amid_valid_traffic(service, NOT_JSON)


# -- signatures: 401 --------------------------------------------------------------------------

_PAID_SIGNATURE = shopify("orders_paid").headers["X-Shopify-Hmac-Sha256"]
_CREATE_BODY = fixture_body("shopify", "orders_create")

BAD_SIGNATURES = [
    Refusal(
        "Shopify signed with another secret",
        _headers(
            shopify("orders_create"),
            X_Shopify_Hmac_Sha256=shopify_signature(_CREATE_BODY, "not-the-secret"),
        ),
        401,
        "does not match",
    ),
    Refusal(
        "Shopify signature missing",
        _headers(shopify("orders_create"), drop=("X-Shopify-Hmac-Sha256",)),
        401,
        "missing",
    ),
    Refusal(
        "Shopify signature empty",
        _headers(shopify("orders_create"), X_Shopify_Hmac_Sha256=""),
        401,
        "missing",
    ),
    Refusal(
        "Shopify signature of another body",
        _headers(shopify("orders_create"), X_Shopify_Hmac_Sha256=_PAID_SIGNATURE),
        401,
        "does not match",
    ),
    Refusal(
        "Shopify signature not base64",
        _headers(shopify("orders_create"), X_Shopify_Hmac_Sha256="é" * 44),
        401,
        "does not match",
    ),
    Refusal(
        "EasyPost signed with another secret",
        _headers(
            easypost("tracker_created"),
            X_Hmac_Signature=easypost_signature(
                fixture_body("easypost", "tracker_created"), "nope"
            ),
        ),
        401,
        "does not match",
    ),
    Refusal(
        "EasyPost signature missing",
        _headers(easypost("tracker_created"), drop=("X-Hmac-Signature",)),
        401,
        "missing",
    ),
    Refusal(
        "EasyPost signature without its hmac-sha256-hex= prefix",
        _headers(
            easypost("tracker_created"),
            X_Hmac_Signature=easypost("tracker_created")
            .headers["X-Hmac-Signature"]
            .split("=", 1)[1],
        ),
        401,
        "does not match",
    ),
    Refusal(
        "malformed body with a bad signature is refused for the signature",
        _headers(_signed_shopify(b'{"id": NaN'), X_Shopify_Hmac_Sha256=_PAID_SIGNATURE),
        401,
        "does not match",
    ),
]


def test_signatures_that_do_not_verify_are_refused_401(service):
    _ids(BAD_SIGNATURES)
    _refused_amid_valid_traffic(service, BAD_SIGNATURES)


# -- topics the provider never sends, and envelopes that say too little: 400 / 422 -------------

_ORDER = _fixture("shopify", "orders_create")
_IN_TRANSIT = _fixture("easypost", "tracker_updated__in_transit")

BAD_ENVELOPES = [
    Refusal(
        "Shopify topic orders/exploded",
        _headers(shopify("orders_create"), X_Shopify_Topic="orders/exploded"),
        400,
        "orders/exploded",
    ),
    Refusal(
        "Shopify topic header missing",
        _headers(shopify("orders_create"), drop=("X-Shopify-Topic",)),
        400,
        "no topic",
    ),
    Refusal(
        "EasyPost description tracker.exploded",
        easypost("x", body=_json({**_IN_TRANSIT, "description": "tracker.exploded"})),
        400,
        "tracker.exploded",
    ),
    Refusal(
        "Shopify webhook id header missing",
        _headers(shopify("orders_create"), drop=("X-Shopify-Webhook-Id",)),
        422,
        "X-Shopify-Webhook-Id",
    ),
    Refusal(
        "Shopify webhook id longer than the inbox can keep",
        _headers(shopify("customers_create"), X_Shopify_Webhook_Id="w" * 256),
        422,
        "delivery id",
    ),
    Refusal(
        "Shopify orders/create without id",
        _signed_shopify(_json(_without_key(_ORDER, "id"))),
        422,
        "orders/create",
        names_field=("id",),
    ),
    Refusal(
        "Shopify orders/create id not an integer",
        _signed_shopify(_json({**_ORDER, "id": "#1042"})),
        422,
        "orders/create",
        names_field=("id",),
    ),
    Refusal(
        "Shopify orders/create as a JSON array",
        _signed_shopify(_json([_ORDER])),
        422,
        "JSON object",
    ),
    Refusal(
        "EasyPost tracker.updated without result.tracking_code",
        easypost("x", body=_json(_without_key(_IN_TRANSIT, "result", "tracking_code"))),
        422,
        "tracker.updated",
        names_field=("result", "tracking_code"),
    ),
    Refusal(
        "EasyPost event without id",
        easypost("x", body=_json(_without_key(_IN_TRANSIT, "id"))),
        422,
        "event",
        names_field=("id",),
    ),
    Refusal(
        "EasyPost event id longer than the inbox can keep",
        easypost("x", body=_json({**_IN_TRANSIT, "id": "evt_" + "e" * 252})),
        422,
        "delivery id",
    ),
    Refusal(
        "EasyPost event id empty",
        easypost("x", body=_json({**_IN_TRANSIT, "id": ""})),
        422,
        "delivery id",
    ),
]


def test_topics_never_sent_are_400_and_envelopes_lacking_what_they_must_carry_are_422(service):
    _ids(BAD_ENVELOPES)
    _refused_amid_valid_traffic(service, BAD_ENVELOPES)


def test_timestamps_out_of_range_are_refused_422_naming_the_field(service):
    """A date no calendar can hold is an invalid field, not an internal error."""
    cases = []
    for value in (1e300, -1e20, "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"):
        shopify_order = _signed_shopify(_json({**_ORDER, "created_at": value}))
        easypost_event = easypost("x", body=_json({**_IN_TRANSIT, "created_at": value}))
        cases += [
            Refusal(f"Shopify {value}", shopify_order, 422, "orders/create", ("created_at",)),
            Refusal(f"EasyPost {value}", easypost_event, 422, "tracker.updated", ("created_at",)),
        ]
    _refused_amid_valid_traffic(service, cases)


# -- sources: 404 -----------------------------------------------------------------------------


def test_unknown_source_answers_404_naming_it(service):
    nosuch = dataclasses.replace(shopify("orders_create"), source="nosuch")
    _refused_amid_valid_traffic(service, [Refusal("unknown source", nosuch, 404, "nosuch")])


def test_known_source_without_a_secret_answers_404_telling_which_variable_to_set(start):
    service = start(WEBHOOK_SECRET_EASYPOST=None)
    case = Refusal(
        "EasyPost not configured", easypost("tracker_created"), 404, "WEBHOOK_SECRET_EASYPOST"
    )
    _refused_amid_valid_traffic(service, [case])


# -- secret rotation --------------------------------------------------------------------------


def _signed_with(request: Request, secret: str) -> Request:
    return _headers(request, X_Shopify_Hmac_Sha256=shopify_signature(request.body, secret))


def test_rotated_secrets_both_verify_until_the_old_one_is_removed(start):
    service = start(WEBHOOK_SECRET_SHOPIFY="shpss_new,shpss_old")
    for request, secret in [(VALID_BEFORE, "shpss_new"), (VALID_AFTER, "shpss_old")]:
        _assert_valid_traffic_flows(service, _signed_with(request, secret))
    service.drain()  # its queue goes when it stops

    service = start(WEBHOOK_SECRET_SHOPIFY="shpss_new")
    updated = shopify("orders_updated")
    case = Refusal(
        "signed with the removed secret", _signed_with(updated, "shpss_old"), 401, "match"
    )
    _assert_refused(service, case)
    _assert_valid_traffic_flows(service, _signed_with(updated, "shpss_new"))
    service.drain()
    assert [status for _, _, status in _inbox(service)] == ["processed"] * 3


# -- size: 413 --------------------------------------------------------------------------------


def test_body_over_the_limit_is_refused_413(start):
    service = start(MAX_BODY_BYTES=str(SMALL_LIMIT))
    over = [
        Refusal("one byte over", _padded(shopify("orders_create"), SMALL_LIMIT + 1), 413, "limit"),
        Refusal("a megabyte over", _padded(shopify("orders_create"), 1 << 20), 413, "limit"),
        Refusal(
            "over the limit and not JSON",
            _headers(_padded(shopify("orders_create"), SMALL_LIMIT + 1), Content_Type="text/plain"),
            413,
            "limit",
        ),
    ]
    _refused_amid_valid_traffic(service, over)


def test_chunked_body_over_the_limit_is_refused_without_content_length(start):
    """Werkzeug refuses a Content-Length over the limit but would silently cut a chunked body
    at it; either way the answer is 413, and a chunked body exactly at the limit is fine."""
    service = start(MAX_BODY_BYTES=str(SMALL_LIMIT))

    def chunked(body: bytes) -> Iterator[bytes]:
        for start_at in range(0, len(body), 4096):
            yield body[start_at : start_at + 4096]

    with _served(service) as base_url:
        assert _http_post(base_url, VALID_BEFORE).status_code == 202
        for size in (SMALL_LIMIT + 1, 4 * SMALL_LIMIT):
            too_big = _padded(shopify("orders_create", webhook_id=f"big-{size}"), size)
            response = _http_post(base_url, too_big, body=chunked(too_big.body))
            assert response.request.headers.get("Transfer-Encoding") == "chunked"
            assert "Content-Length" not in response.request.headers
            assert response.status_code in (400, 413), (size, response.status_code, response.text)
            assert "limit" in response.json()["error"], (size, response.text)
            assert _count(service, Inbox) == 1
        at_limit = _padded(VALID_AFTER, SMALL_LIMIT)
        assert _http_post(base_url, at_limit, body=chunked(at_limit.body)).status_code == 202
    service.drain()
    assert [status for _, _, status in _inbox(service)] == ["processed", "processed"]


# -- real topics ordertrack does not use: 200 ignored -----------------------------------------


def test_real_topics_ordertrack_does_not_use_answer_200_ignored_and_are_never_processed(service):
    for request in (shopify("customers_create"), easypost("refund_successful")):
        response = service.post(request)
        assert response.status_code == 200, (request.name, response.json)
        assert response.json["status"] == "ignored"
    service.drain()
    with service.runtime.engine.connect() as connection:
        rows = connection.execute(
            select(Inbox.topic, Inbox.status, Inbox.processed_at).order_by(Inbox.id)
        ).all()
    assert [tuple(row) for row in rows] == [
        ("customers/create", "ignored", None),
        ("refund.successful", "ignored", None),
    ]
    assert _count(service, Order) == 0
    assert _count(service, History) == 0

    _assert_valid_traffic_flows(service, VALID_BEFORE)
    service.drain()
    assert [status for _, _, status in _inbox(service)] == ["ignored", "ignored", "processed"]


# -- duplicates: 200 duplicate ----------------------------------------------------------------


def _assert_duplicate(service: Service, request: Request) -> None:
    response = service.post(request)
    assert response.status_code == 200, (request.name, response.json)
    assert response.json["status"] == "duplicate"


def test_duplicate_shopify_delivery_answers_200_and_changes_nothing(service):
    for request in (VALID_BEFORE, VALID_AFTER):
        _assert_valid_traffic_flows(service, request)
    service.drain()
    before = service.order(ORDER_ID)

    _assert_duplicate(service, VALID_BEFORE)
    # Same delivery id, other content: still the delivery already kept, so nothing changes.
    webhook_id = VALID_BEFORE.headers["X-Shopify-Webhook-Id"]
    _assert_duplicate(service, shopify("orders_cancelled", webhook_id=webhook_id))
    service.drain()

    assert service.order(ORDER_ID) == before
    assert service.api(f"/api/v1/orders/shopify/{OTHER_ORDER_ID}").status_code == 404
    assert _count(service, Inbox) == 2


def test_same_easypost_event_twice_answers_200_duplicate_and_changes_nothing(service):
    story = [VALID_BEFORE, shopify("fulfillments_create"), easypost("tracker_updated__in_transit")]
    for request in story:
        _assert_valid_traffic_flows(service, request)
    service.drain()
    before = service.order(ORDER_ID)
    assert before["status"] == "in_transit"

    _assert_duplicate(service, easypost("tracker_updated__in_transit"))
    service.drain()

    assert service.order(ORDER_ID) == before
    assert _count(service, Inbox) == 3


def test_five_simultaneous_copies_of_one_delivery_store_one_row_and_one_202(service):
    copies = 5
    barrier = threading.Barrier(copies)
    answers: list[tuple[int, dict]] = []

    def post(base_url: str) -> None:
        barrier.wait(timeout=20)
        response = _http_post(base_url, VALID_BEFORE)
        answers.append((response.status_code, response.json()))

    with _served(service) as base_url:
        threads = [threading.Thread(target=post, args=(base_url,)) for _ in range(copies)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert sorted(status for status, _ in answers) == [200] * (copies - 1) + [202], answers
    assert sorted(body["status"] for _, body in answers) == ["accepted"] + ["duplicate"] * 4
    service.drain()
    assert _inbox(service) == [("shopify", "orders/create", "processed")]
    assert service.order(ORDER_ID)["status"] == "received"
