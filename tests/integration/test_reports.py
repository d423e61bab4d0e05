"""The performance reports (issue 11) against numbers worked out by hand from the story in
tests/support/report_story.py, on SQLite and PostgreSQL."""

import re

import pytest

from ordertrack.store import reports, rollup_models
from ordertrack.store.db import make_engine, make_sessionmaker
from tests.support import report_story

PERIOD = reports.Period(report_story.SINCE, report_story.UNTIL)


@pytest.fixture
def session(database_url):
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as writing:
        report_story.seed(writing)
    with sessions() as reading:
        yield reading
    engine.dispose()


def test_the_funnel_counts_orders_by_status_now_and_at_or_past_each_step(session):
    report = reports.funnel(session, PERIOD)
    rows = {row["status"]: row for row in report["rows"]}
    # A, B delivered; C at an exception on the way; D received; E cancelled; F is October's.
    assert report["total"] == 5
    assert [rows[s]["orders"] for s in ("delivered", "exception", "received", "cancelled")] == [
        2, 1, 1, 1
    ]  # fmt: skip
    reached = [rows[s]["at_or_past"] for s in map(str, reports.MAIN_LINE)]
    # Cancelled counts nowhere on the line; the exception counts up to in transit.
    assert reached == [4, 3, 3, 3, 2, 2, 0]
    assert [row["line"] for row in report["rows"]][-7:] == ["detour"] * 7


def test_stage_durations_by_week_with_the_bottleneck(session):
    report = reports.stages(session, PERIOD)
    w45, w46 = report["weeks"]
    assert (w45["week"], w46["week"]) == ("2026-W45", "2026-W46")
    # A: 24 h warehouse, 6 h pickup, 48 h transit, 78 h in all. B (placed 09:00, before it
    # reached us): 48, 2, 48, 98.
    assert w45["warehouse"] == {"count": 2, "p50_hours": 36.0, "p90_hours": 45.6}
    assert w45["pickup"] == {"count": 2, "p50_hours": 4.0, "p90_hours": 5.6}
    assert w45["transit"] == {"count": 2, "p50_hours": 48.0, "p90_hours": 48.0}
    assert w45["order_to_delivered"] == {"count": 2, "p50_hours": 88.0, "p90_hours": 96.0}
    assert w45["bottleneck"] == "transit"
    # C: 4 h in the warehouse, then 24 h before the carrier's first scan (an exception).
    assert w46["warehouse"]["p50_hours"] == 4.0 and w46["pickup"]["p50_hours"] == 24.0
    assert w46["transit"]["count"] == 0 and w46["bottleneck"] == "pickup"
    overall = report["overall"]
    assert overall["warehouse"] == {"count": 3, "p50_hours": 24.0, "p90_hours": 43.2}
    assert overall["pickup"] == {"count": 3, "p50_hours": 6.0, "p90_hours": 20.4}
    assert overall["bottleneck"] == "transit"


def _card(carrier, country, region, parcels, delivered, on_time, first, exceptions, transit):
    return {
        "carrier": carrier,
        "country": country,
        "region": region,
        "parcels": parcels,
        "delivered": delivered,
        "on_time_share": on_time,
        "first_attempt_share": first,
        "exception_share": exceptions,
        "transit_p50_days": transit,
        "transit_p90_days": transit,
    }


def test_carrier_scorecards_by_carrier_and_by_destination_region(session):
    report = reports.carriers(session, PERIOD)
    # C's DHL parcel hit an exception and is not delivered. A (California) arrived on its
    # estimate day at the first attempt; B (New York) a day late, after a failed attempt.
    # Both took 2 days from the first scan (B's label scan is not one).
    assert report["rows"] == [
        _card("dhl", "GB", None, 1, 0, None, None, 1.0, None),
        _card("ups", "US", "CA", 1, 1, 1.0, 1.0, 0.0, 2.0),
        _card("ups", "US", "NY", 1, 1, 0.0, 0.0, 0.0, 2.0),
    ]
    assert report["carriers"] == [
        _card("dhl", None, None, 1, 0, None, None, 1.0, None),
        _card("ups", None, None, 2, 2, 0.5, 0.5, 0.0, 2.0),
    ]


def test_delay_flags_raised_and_cleared_per_week_and_open_now(session):
    report = reports.delays(session, PERIOD)
    assert report["weeks"] == [
        {"week": "2026-W45", "raised": 2, "cleared": 2},  # October's flag cleared on the 4th
        {"week": "2026-W46", "raised": 1, "cleared": 1},
    ]
    assert report["open_now"] == [{"kind": "no_movement", "open": 1}]


def test_returns_by_reason_and_rate_per_product(session):
    report = reports.returns(session, PERIOD)
    assert report["reasons"] == [
        {"reason": "damaged", "returns": 2, "items": 2},
        {"reason": "wrong_item", "returns": 1, "items": 1},
    ]
    # Mugs: 2 (A) + 1 (C) ordered, 2 back; posters: 1 (B) + 3 (D), 1 back.
    assert report["products"] == [
        {"product": "Mug", "ordered": 3, "returned": 2, "return_rate": 0.6667},
        {"product": "Poster", "ordered": 4, "returned": 1, "return_rate": 0.25},
    ]


def test_notification_delivery_rate_per_channel(session):
    assert reports.notifications(session, PERIOD)["rows"] == [
        {
            "channel": "email",
            "total": 4,
            "delivered": 2,
            "failed": 1,
            "delivery_rate": 0.5,
            "failed_share": 0.25,
        },
        {
            "channel": "sms",
            "total": 2,
            "delivered": 1,
            "failed": 1,
            "delivery_rate": 0.5,
            "failed_share": 0.5,
        },
    ]


def test_an_empty_period_gives_empty_reports(session):
    empty = reports.Period(report_story.at(1, month=1), report_story.at(2, month=1))
    for name, report in reports.REPORTS.items():
        header, _ = reports.table(name, report(session, empty))
        assert header, name
    assert reports.funnel(session, empty)["total"] == 0
    assert reports.stages(session, empty)["overall"]["bottleneck"] is None


def test_the_period_defaults_to_eight_weeks_and_refuses_a_backwards_one():
    now = report_story.UNTIL
    assert reports.period(None, None, now) == reports.Period(
        report_story.at(5, month=10), report_story.UNTIL
    )
    with pytest.raises(ValueError, match="before"):
        reports.period(now, report_story.SINCE, now)


AUTH = {"Authorization": "Bearer test-api-token"}
STORY_PERIOD = "since=2026-11-02&until=2026-11-29"  # a date alone: to the end of the 29th


@pytest.fixture
def shop(service):
    with service.runtime.sessions.begin() as writing:
        report_story.seed(writing)
    return service


def test_the_api_answers_each_report_for_the_period(shop):
    answer = shop.client.get(f"/api/v1/reports/funnel?{STORY_PERIOD}", headers=AUTH)
    assert answer.status_code == 200, answer.json
    assert answer.json["total"] == 5
    assert answer.json["since"] == "2026-11-02T00:00:00+00:00"
    assert answer.json["until"] == "2026-11-30T00:00:00+00:00"
    carriers = shop.client.get(f"/api/v1/reports/carriers?{STORY_PERIOD}", headers=AUTH).json
    assert [(r["carrier"], r["on_time_share"]) for r in carriers["carriers"]] == [
        ("dhl", None),
        ("ups", 0.5),
    ]
    assert [(r["region"], r["on_time_share"]) for r in carriers["rows"]] == [
        (None, None),
        ("CA", 1.0),
        ("NY", 0.0),
    ]
    for name in reports.REPORTS:
        assert shop.client.get(f"/api/v1/reports/{name}", headers=AUTH).status_code == 200


def test_the_same_numbers_as_csv_either_way(shop):
    by_path = shop.client.get(f"/api/v1/reports/notifications.csv?{STORY_PERIOD}", headers=AUTH)
    by_query = shop.client.get(
        f"/api/v1/reports/notifications?{STORY_PERIOD}&format=csv", headers=AUTH
    )
    for answer in (by_path, by_query):
        assert answer.status_code == 200 and answer.mimetype == "text/csv"
        assert answer.get_data(as_text=True).splitlines() == [
            "channel,total,delivered,failed,delivery_rate,failed_share",
            "email,4,2,1,0.5,0.25",
            "sms,2,1,1,0.5,0.5",
        ]
    assert "notifications-2026-11-02-2026-11-30.csv" in by_path.headers["Content-Disposition"]
    stages = shop.client.get(f"/api/v1/reports/stages.csv?{STORY_PERIOD}", headers=AUTH)
    lines = stages.get_data(as_text=True).splitlines()
    assert lines[0].startswith("week,bottleneck,warehouse_count,warehouse_p50_hours")
    assert lines[1].startswith("2026-W45,transit,2,36.0,45.6,2,4.0,5.6")


def test_the_api_refuses_a_bad_period_or_format_and_a_missing_token(shop):
    bad = [
        "since=yesterday",
        "since=2026-11-10&until=2026-11-01",
        "since=2020-01-01&until=2026-01-01",
        "until=0001-01-01",
        "format=xml",
    ]
    for query in bad:
        answer = shop.client.get(f"/api/v1/reports/funnel?{query}", headers=AUTH)
        assert answer.status_code == 400 and answer.json["error"], query
    assert shop.client.get("/api/v1/reports/funnel").status_code == 401


def _signed_in(shop, role: str):
    from tests.integration.test_console import _add, _sign_in

    email, password = f"{role}@shop.example", f"{role} password 1"
    _add(shop, email, role, password)
    client = shop.app.test_client()
    assert _sign_in(client, email, password).status_code == 303
    return client


def _cells(html: str, attribute: str) -> list[str]:
    """The text of each <td> of the first table row with this attribute."""
    row = re.search(rf"<tr [^>]*?{re.escape(attribute)}[^>]*>(.*?)</tr>", html, re.S).group(1)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
    return [" ".join(re.sub(r"<[^>]+>", " ", cell).split()) for cell in cells]


def test_the_console_page_shows_each_report_as_a_chart_and_a_table(shop):
    for role in ("staff", "admin"):
        page = _signed_in(shop, role).get("/admin/performance?since=2026-11-02&until=2026-11-29")
        assert page.status_code == 200, role
    html = page.get_data(as_text=True)
    for name in reports.REPORTS:
        assert f'data-chart="{name}-chart"' in html
        assert f'<title id="{name}-chart-title">' in html
    assert "<script" not in html and "https://" not in html
    assert 'aria-current="page">Performance' in html
    # The tables' numbers, as worked out in the tests above.
    assert _cells(html, 'data-status="delivered"') == ["delivered", "2", "2"]
    assert 'data-bottleneck="transit"' in html
    assert _cells(html, 'data-carrier="ups"') == [
        "ups",
        "All",
        "2",
        "50%",
        "50%",
        "0%",
        "2.0 / 2.0",
    ]
    assert _cells(html, 'data-carrier="ups-US-NY"') == [
        "ups",
        "US NY",
        "1",
        "0%",
        "0%",
        "0%",
        "2.0 / 2.0",
    ]
    assert _cells(html, 'data-week="2026-W45"')[:1] == ["36.0 / 45.6 2 orders"]
    assert _cells(html, 'data-reason="damaged"') == ["It arrived damaged", "2", "2"]
    assert _cells(html, 'data-product="Mug"') == ["Mug", "3", "2", "67%"]
    assert _cells(html, 'data-channel="sms"') == ["sms", "2", "1", "1", "50%"]
    assert 'href="/api/v1/reports/funnel.csv?since=2026-11-02&amp;until=2026-11-29"' in html


def test_the_console_page_says_when_a_period_is_wrong(shop):
    client = _signed_in(shop, "staff")
    page = client.get("/admin/performance?since=2026-11-10&until=2026-11-01")
    assert page.status_code == 400 and "since must be before until" in page.get_data(as_text=True)
    assert shop.app.test_client().get("/admin/performance").status_code == 303, "signed out"


def test_reports_rebuild_counts_every_order_again_and_the_numbers_do_not_change(shop, capsys):
    from entry import cli

    before = shop.client.get(f"/api/v1/reports/carriers?{STORY_PERIOD}", headers=AUTH).json
    with shop.runtime.sessions.begin() as session:
        session.execute(rollup_models.ParcelDay.__table__.delete())
    emptied = shop.client.get(f"/api/v1/reports/carriers?{STORY_PERIOD}", headers=AUTH).json
    assert emptied["rows"] == [], "the report reads the rollups"
    assert cli.main(["reports", "rebuild"]) == 0
    assert "rebuilt the report rollups from 6 orders\n" in capsys.readouterr().out
    after = shop.client.get(f"/api/v1/reports/carriers?{STORY_PERIOD}", headers=AUTH).json
    assert after == before and len(after["rows"]) == 3


def test_the_page_lists_the_products_returned_most_and_the_csv_has_them_all(shop):
    from datetime import date

    with shop.runtime.sessions.begin() as session:
        session.add_all(
            rollup_models.ProductDay(day=date(2026, 11, 20), title=f"Sock {n:02d}", ordered=n)
            for n in range(1, 31)
        )
    html = _signed_in(shop, "staff").get(f"/admin/performance?{STORY_PERIOD}").get_data(True)
    listed = re.findall(r'data-product="([^"]+)"', html)
    assert listed[:2] == ["Mug", "Poster"] and len(listed) == 25, "highest return rate first"
    assert "The 25 products returned most often, of 32; every product is in the CSV." in html
    csv = shop.client.get(f"/api/v1/reports/returns.csv?{STORY_PERIOD}", headers=AUTH)
    assert csv.get_data(as_text=True).count("\nproduct,") == 32
