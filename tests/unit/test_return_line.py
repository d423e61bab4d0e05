"""The return line's table and the return window, as a reviewer reads them."""

from datetime import UTC, datetime, timedelta
from itertools import product

import pytest

from ordertrack.returns import line
from ordertrack.returns.line import IllegalTransition, ReturnStatus

S = ReturnStatus
ALLOWED = {
    (S.REQUESTED, S.APPROVED),
    (S.REQUESTED, S.REJECTED),
    (S.APPROVED, S.IN_TRANSIT),
    (S.APPROVED, S.RECEIVED),
    (S.APPROVED, S.REFUNDED),
    (S.IN_TRANSIT, S.IN_TRANSIT),
    (S.IN_TRANSIT, S.RECEIVED),
    (S.IN_TRANSIT, S.REFUNDED),
    (S.RECEIVED, S.REFUNDED),
}
REFUSED = sorted(set(product(S, S)) - ALLOWED)
DELIVERED = datetime(2026, 11, 5, 13, 40, tzinfo=UTC)


@pytest.mark.parametrize(("current", "target"), sorted(ALLOWED))
def test_every_allowed_move_is_allowed(current, target):
    assert line.check(current, target) is target
    assert line.allowed(current, target)


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_every_other_move_is_refused_naming_the_current_status(current, target):
    with pytest.raises(IllegalTransition) as refused:
        line.check(current, target)
    assert refused.value.details["current_status"] == current
    assert refused.value.status_code == 409
    assert not line.allowed(current, target)


def test_rejected_and_refunded_are_the_ends_of_the_line():
    assert line.TRANSITIONS[S.REJECTED] == line.TRANSITIONS[S.REFUNDED] == frozenset()


def test_every_status_has_words_for_the_customer():
    assert set(line.STATUS_WORDS) == set(S)


def test_the_form_offers_the_six_reasons_in_order():
    assert list(line.REASONS) == [
        "damaged", "wrong_item", "not_as_described", "no_longer_needed", "too_late", "other",
    ]  # fmt: skip


@pytest.mark.parametrize("status", ["delivered", "completed"])
def test_window_is_open_on_delivery_and_on_its_last_instant(status):
    assert line.window(status, DELIVERED, DELIVERED, 30).open
    last = DELIVERED + timedelta(days=30)
    assert line.window(status, DELIVERED, last, 30) == line.Window(True, None, last)


def test_window_closes_a_moment_after_its_last_instant_and_says_when():
    after = DELIVERED + timedelta(days=30, microseconds=1)
    window = line.window("delivered", DELIVERED, after, 30)
    assert not window.open
    assert window.reason == "The return window of 30 days after delivery closed on 5 December 2026."


@pytest.mark.parametrize("status", ["received", "processing", "shipped", "in_transit",
                                    "out_for_delivery", "delivery_failed", "exception",
                                    "available_for_pickup"])  # fmt: skip
def test_an_undelivered_order_cannot_be_returned_yet(status):
    window = line.window(status, None, DELIVERED, 30)
    assert not window.open
    assert window.reason == "Returns open once your order has been delivered."


def test_a_delivered_status_without_a_delivery_time_is_not_open():
    assert not line.window("delivered", None, DELIVERED, 30).open


@pytest.mark.parametrize(
    ("status", "words"),
    [("cancelled", "cancelled"), ("refunded", "already been refunded"), ("returned", "went back")],
)
def test_a_cancelled_refunded_or_returned_order_says_why_not(status, words):
    window = line.window(status, DELIVERED, DELIVERED, 30)
    assert not window.open and words in window.reason
