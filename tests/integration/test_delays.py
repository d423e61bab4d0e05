"""Delay flags through the whole service, with a controlled clock (the check takes `now`):
set and cleared across a weekend and a holiday, cleared by an applied event, the customer's
"taking longer than usual" sent once per delay and never after delivery, on both databases
with a real SMTP server; `ordertrack delays --once`; the order list's `flag` filter."""

import base64
from datetime import UTC, datetime

import pytest
import responses
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from entry import cli
from ordertrack import delay_check
from ordertrack.store import flags as store_flags
from ordertrack.store.flag_models import FlagDay
from tests.support.webhooks import ORDER_ID, easypost, shopify

CUSTOMER = "ada@example.com"
#: The parcel's last scan: Tuesday 3 November 2026, 08:00 UTC; its estimate Wednesday 4.
#: Friday 6 November is a holiday here.
HOLIDAY = "2026-11-06"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def shop(start, monkeypatch):
    monkeypatch.setenv("HOLIDAYS", HOLIDAY)
    service = start()
    for request in (
        shopify("orders_create"),
        shopify("fulfillments_create"),
        easypost("tracker_updated__in_transit"),
    ):
        assert service.post(request).status_code == 202
        service.drain()
    return service


def check(service, now: str, send: bool = True) -> delay_check.Checked:
    checked = delay_check.check_all(service.runtime.sessions, service.runtime.settings, at(now))
    if send:
        for queued in checked.notifications:
            service.runtime.actors.send_notification.send(queued.id)
        service.drain()
    return checked


def kinds(service) -> list[str]:
    return [flag["kind"] for flag in service.order(ORDER_ID)["flags"]]


def delay_emails(smtp) -> list:
    return [m for m in smtp.to(CUSTOMER) if "taking longer than usual" in m["Subject"]]


def test_no_movement_waits_out_the_weekend_and_the_holiday_and_a_scan_clears_it(shop):
    # Tue 08:00 + 4 business days (Wed, Thu, Fri off, Mon, Tue): Tuesday 10 November 08:00.
    assert [c.kind for c in check(shop, "2026-11-10T07:59:00").flagged] == ["past_estimate"]
    assert kinds(shop) == ["past_estimate"]
    checked = check(shop, "2026-11-10T08:00:00")
    assert [(c.kind, c.since) for c in checked.flagged] == [
        ("no_movement", at("2026-11-10T08:00:00"))
    ]
    assert kinds(shop) == ["past_estimate", "no_movement"]
    # The carrier's next scan applies: the pipeline clears no_movement in its transaction.
    assert shop.post(easypost("tracker_updated__out_for_delivery")).status_code == 202
    shop.drain()
    assert kinds(shop) == ["past_estimate"]
    # The periodic check agrees, and clears nothing more.
    assert check(shop, "2026-11-10T09:00:00").cleared == []


def test_the_customer_hears_of_a_delay_once_and_never_after_delivery(shop, smtp):
    assert check(shop, "2026-11-04T23:59:00").flagged == []
    assert [c.kind for c in check(shop, "2026-11-05T00:00:00").flagged] == ["past_estimate"]
    [told] = delay_emails(smtp)
    body = told.get_body(("plain",)).get_content()
    assert "taking longer than usual" in body and "9400111899223344556677" in body
    # Checked again and again: the same delay, no second message.
    check(shop, "2026-11-05T06:00:00")
    check(shop, "2026-11-06T06:00:00")
    assert len(delay_emails(smtp)) == 1
    notifications = shop.order(ORDER_ID)["notifications"]
    assert [n["kind"].partition(":")[0] for n in notifications].count("delayed") == 1

    # A new delay (no movement), queued but not sent yet, and then the parcel arrives: the
    # message is stale and skipped, never sent after delivery.
    checked = check(shop, "2026-11-10T08:00:00", send=False)
    assert [c.kind for c in checked.flagged] == ["no_movement"]
    assert shop.post(easypost("tracker_updated__delivered")).status_code == 202
    shop.drain()
    assert kinds(shop) == []
    for queued in checked.notifications:
        shop.runtime.actors.send_notification.send(queued.id)
    shop.drain()
    assert len(delay_emails(smtp)) == 1
    rows = [n for n in shop.order(ORDER_ID)["notifications"] if n["kind"].startswith("delayed")]
    assert rows[-1]["status"] == "skipped" and rows[-1]["reason"].startswith("stale:")
    assert check(shop, "2026-12-01T00:00:00").flagged == []


def test_the_order_list_filters_on_open_flags(shop):
    assert shop.api("/api/v1/orders?flag=any").json["orders"] == []
    check(shop, "2026-11-05T00:00:00")
    [order] = shop.api("/api/v1/orders?flag=any").json["orders"]
    assert order["flags"][0]["kind"] == "past_estimate"
    assert order["flags"][0]["since"].startswith("2026-11-05T00:00:00")
    assert shop.api("/api/v1/orders?flag=past_estimate").json["orders"] == [order]
    assert shop.api("/api/v1/orders?flag=no_movement").json["orders"] == []
    check(shop, "2026-11-10T08:00:00")
    [order] = shop.api("/api/v1/orders?flag=no_movement").json["orders"]
    response = shop.api("/api/v1/orders?flag=late")
    assert response.status_code == 400 and "flag must be one of" in response.json["error"]


def test_delays_once_prints_what_it_flagged_and_cleared(shop, capsys):
    assert cli.main(["delays", "--once"]) == 0
    out = capsys.readouterr().out
    # Today, long after the fixture's dates: the parcel is past its estimate and unmoved.
    assert "flagged shopify #1042 parcel f:" in out and ": past_estimate since 2026-11-05" in out
    assert ": no_movement since" in out
    assert out.strip().endswith("2 flagged, 0 cleared")
    assert cli.main(["delays", "--once"]) == 0
    assert capsys.readouterr().out.strip().endswith("0 flagged, 0 cleared")
    assert cli.main(["delays"]) == 2


def _policy(tmp_path, name: str, usps_no_movement_days: int) -> str:
    """The default policy, with USPS's own no-movement threshold."""
    from importlib.resources import files

    default = files("ordertrack.notifications").joinpath("default_policy.toml").read_text()
    path = tmp_path / name
    path.write_text(
        f"{default}\n[delays.carriers.usps]\nno_movement_days = {usps_no_movement_days}\n"
    )
    return str(path)


def _delays_once_at(moment: str, capsys) -> list[str]:
    """`ordertrack delays --once`, the real command, with the clock at `moment` (UTC)."""
    import time_machine

    with time_machine.travel(at(moment), tick=False):
        assert cli.main(["delays", "--once"]) == 0
    return capsys.readouterr().out.strip().splitlines()


def test_delays_once_across_the_weekend_and_holiday_with_the_carriers_own_threshold(
    start, tmp_path, monkeypatch, capsys
):
    # USPS parcels may sit 3 business days unscanned (the default is 4): from Tuesday 3
    # November 08:00 that is Wednesday, Thursday, then Friday 6 is a holiday and the weekend
    # is off, so Monday 9 November 08:00 (the default would be Tuesday 10).
    strict = _policy(tmp_path, "usps-3.toml", 3)
    service = start(HOLIDAYS=HOLIDAY, NOTIFICATION_POLICY_FILE=strict)
    for request in (
        shopify("orders_create"),
        shopify("fulfillments_create"),
        easypost("tracker_updated__in_transit"),
    ):
        assert service.post(request).status_code == 202
        service.drain()

    # Wednesday 4 is the carrier's estimate: late from Thursday's midnight. Before, the
    # check's narrowing leaves the order out: nothing of it can be late yet.
    assert _delays_once_at("2026-11-04T23:59:00", capsys) == [
        "checked 0 orders: 0 flagged, 0 cleared"
    ]
    flagged, summary = _delays_once_at("2026-11-05T00:00:00", capsys)
    assert flagged.startswith("flagged shopify #1042 parcel f:")
    assert flagged.endswith(
        ": past_estimate since 2026-11-05 00:00 UTC (estimated 2026-11-04, now in_transit)"
    )
    assert summary == "checked 1 orders: 1 flagged, 0 cleared"

    assert _delays_once_at("2026-11-09T07:59:00", capsys)[-1].endswith("0 flagged, 0 cleared")
    flagged, summary = _delays_once_at("2026-11-09T08:00:00", capsys)
    assert flagged.endswith(
        ": no_movement since 2026-11-09 08:00 UTC (in transit, last scan 2026-11-03, "
        "none since in 3 business days)"
    )
    assert summary.endswith("1 flagged, 0 cleared")
    assert kinds(service) == ["past_estimate", "no_movement"]

    # The merchant gives USPS a day more: the next check clears what is no longer late.
    monkeypatch.setenv("NOTIFICATION_POLICY_FILE", _policy(tmp_path, "usps-4.toml", 4))
    cleared, summary = _delays_once_at("2026-11-09T09:00:00", capsys)
    assert cleared.startswith("cleared shopify #1042 parcel f:")
    assert ": no_movement since 2026-11-09 08:00 UTC" in cleared
    assert summary == "checked 1 orders: 0 flagged, 1 cleared"
    assert kinds(service) == ["past_estimate"]


#: The merchant's endpoint, a third party played by `responses`; a public address, so the
#: SSRF guard lets it through without a DNS lookup.
MERCHANT_URL = "https://93.184.215.14/ordertrack-events"
MERCHANT_SECRET = "whsec_" + base64.b64encode(b"m" * 32).decode()


def test_the_merchant_hears_of_each_new_delay_once_as_order_delayed(start):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(MERCHANT_URL, status=204)
        shop = start(
            HOLIDAYS=HOLIDAY,
            MERCHANT_WEBHOOK_URL=MERCHANT_URL,
            MERCHANT_WEBHOOK_SECRET=MERCHANT_SECRET,
        )
        for request in (
            shopify("orders_create"),
            shopify("fulfillments_create"),
            easypost("tracker_updated__in_transit"),
        ):
            assert shop.post(request).status_code == 202
            shop.drain()
        check(shop, "2026-11-05T00:00:00")  # past its estimate
        check(shop, "2026-11-10T08:00:00")  # and unmoved
        check(shop, "2026-11-11T08:00:00")  # nothing new
        verifier = Webhook(MERCHANT_SECRET)
        events = [
            verifier.verify(c.request.body, dict(c.request.headers))
            for c in mock.calls
            if c.request.url == MERCHANT_URL
        ]
    delayed = [e for e in events if e["type"] == "order.delayed"]
    assert [sorted(f["kind"] for f in e["data"]["flags"]) for e in delayed] == [
        ["past_estimate"],
        ["no_movement", "past_estimate"],
    ]
    kinds = [n["kind"].partition(":")[0] for n in shop.order(ORDER_ID)["notifications"]]
    assert kinds.count("order.delayed") == 2 and kinds.count("delayed") == 2


def test_the_day_counts_of_flags_equal_a_count_of_the_flags_themselves(shop):
    """What the delays report and the open counts read (kept as flags open and clear, by
    the check and by the pipeline) is what counting the rows again gives."""
    check(shop, "2026-11-10T08:00:00")  # raises past_estimate and no_movement
    assert shop.post(easypost("tracker_updated__out_for_delivery")).status_code == 202
    shop.drain()  # the pipeline clears no_movement
    check(shop, "2026-11-10T09:00:00")
    with shop.runtime.sessions.begin() as session:
        kept = _flag_days(session)
        assert store_flags.count_open_by_kind(session) == {"past_estimate": 1}
        store_flags.rebuild_days(session)
        assert _flag_days(session) == kept
    assert sum(raised for raised, _ in kept.values()) == 2
    assert sum(cleared for _, cleared in kept.values()) == 1


def _flag_days(session) -> dict:
    rows = session.execute(select(FlagDay.day, FlagDay.kind, FlagDay.raised, FlagDay.cleared))
    return {(day, kind): (raised, cleared) for day, kind, raised, cleared in rows}
