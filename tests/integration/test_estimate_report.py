"""The estimates report (issue 11): the lanes learned at the period's end and the share of the
period's parcels delivered by their learned p90 date, against numbers worked out by hand, on
SQLite and PostgreSQL; then the same through the API, CSV, the OpenAPI document and the
console's performance page."""

import re
from datetime import UTC, datetime, timedelta

import pytest

from ordertrack.business_days import Calendar
from ordertrack.store import estimate_report, reports
from ordertrack.store.db import make_engine, make_sessionmaker
from tests.support.lane_story import Delivered, seed

#: November 2026, Monday 2 to Monday 30; business days Mon-Fri in UTC.
SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
PERIOD = reports.Period(SINCE, UNTIL)


def at(month: int, day: int, hour: int = 10) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def _ny(carrier: str, postcode: str, scan: datetime, delivered: datetime) -> Delivered:
    return Delivered(carrier, "US", "NY", postcode, scan, delivered)


STORY = [
    # Five October Mondays' scans to New York 100xx, each delivered on the Wednesday: 2
    # business days. A carrier's name in any case is one carrier.
    *(
        _ny("UPS", f"1000{i}", at(10, 5) + timedelta(weeks=i), at(10, 7) + timedelta(weeks=i))
        for i in range(4)
    ),
    _ny("ups", "10009", at(10, 26), at(10, 28)),
    # One to California, Wednesday to Friday: 2 business days, a lane of one.
    Delivered("UPS", "US", "CA", "94103", at(10, 7), at(10, 9)),
    # In the period. J1: Monday 2 Nov 10:00 to Wednesday 09:00, 1 business day. At its scan
    # the five October ones (2, 2, 2, 2, 2) gave p90 2: Wednesday 4, so it was on time.
    _ny("UPS", "10010", at(11, 2), at(11, 4, 9)),
    # J2: Monday 9 to Friday 13, 4 days. At its scan 1 2 2 2 2 2: p90 (the 6th) 2, due by
    # Wednesday 11: late.
    _ny("UPS", "10011", at(11, 9), at(11, 13)),
    # DHL to London: nothing to learn from before it, so not judged; no lane of its own.
    Delivered("DHL", "GB", None, "SW1A 1AA", at(11, 10), at(11, 12)),
    # Left out: outside every window (May), delivered without a scan, delivered after the
    # period.
    Delivered("UPS", "US", "TX", "73301", at(5, 4), at(5, 6)),
    Delivered("UPS", "US", "TX", "73301", None, at(11, 20)),
    _ny("UPS", "10012", at(11, 30), at(12, 2)),
]


@pytest.fixture
def session(database_url):
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    with sessions.begin() as writing:
        seed(writing, STORY)
    with sessions() as reading:
        yield reading
    engine.dispose()


def test_the_lanes_learned_at_the_periods_end_with_p50_p90_and_samples(session):
    report = estimate_report.estimates_report(session, PERIOD)
    assert report["window_days"] == 90
    # UPS, Sep 1 to Nov 30: New York 1 2 2 2 2 2 4 (p50 the 4th, p90 the 7th); with
    # California's 2, everywhere and the US have eight (p90 the 8th).
    assert report["lanes"] == [
        {"carrier": "ups", "service": None, "basis": "carrier", "lane": "anywhere",
         "p50_days": 2, "p90_days": 4, "samples": 8},
        {"carrier": "ups", "service": None, "basis": "country", "lane": "US",
         "p50_days": 2, "p90_days": 4, "samples": 8},
        {"carrier": "ups", "service": None, "basis": "region", "lane": "US-NY",
         "p50_days": 2, "p90_days": 4, "samples": 7},
        {"carrier": "ups", "service": None, "basis": "postcode", "lane": "US 100*",
         "p50_days": 2, "p90_days": 4, "samples": 7},
    ]  # fmt: skip


def test_accuracy_counts_the_periods_parcels_delivered_by_their_p90_date(session):
    accuracy = estimate_report.estimates_report(session, PERIOD)["accuracy"]
    assert accuracy == {
        "on_time": 1,
        "judged": 2,
        "share": 0.5,
        "sampled": False,
        "carriers": [{"carrier": "ups", "on_time": 1, "judged": 2, "share": 0.5, "sampled": False}],
    }
    # A period that starts after J1 judges J2 alone.
    later = reports.Period(at(11, 5), UNTIL)
    assert estimate_report.estimates_report(session, later)["accuracy"]["judged"] == 1


def test_business_days_and_the_window_are_the_shops(session):
    # Tuesday 10 and Wednesday 11 November off: from Monday 9, J2's two business days end
    # on Friday 13, the day it came: on time.
    calendar = Calendar(dates_off=frozenset({at(11, 10).date(), at(11, 11).date()}))
    holidays = estimate_report.Learning(calendar)
    assert estimate_report.estimates_report(session, PERIOD, holidays)["accuracy"]["on_time"] == 2
    # A 30-day window at the period's end (31 October on) holds J1 and J2 only: too few.
    short = estimate_report.Learning(window_days=30)
    assert estimate_report.estimates_report(session, PERIOD, short)["lanes"] == []


def test_carriers_are_listed_from_the_index_in_lower_case(session):
    assert estimate_report.carriers(session) == ["dhl", "ups"]


def test_a_carrier_past_the_cap_is_judged_on_its_newest_parcels(session, monkeypatch):
    monkeypatch.setattr(estimate_report, "MAX_JUDGED", 1)
    ups = estimate_report.estimates_report(session, PERIOD)["accuracy"]["carriers"][0]
    assert ups == {"carrier": "ups", "on_time": 0, "judged": 1, "share": 0.0, "sampled": True}


def test_the_estimates_report_as_one_csv_table(session):
    header, rows = reports.table("estimates", estimate_report.estimates_report(session, PERIOD))
    assert header[:5] == ["table", "carrier", "service", "basis", "lane"]
    assert rows[0] == ["lane", "ups", None, "carrier", "anywhere", 2, 4, 8] + [None] * 4
    assert rows[-2:] == [
        ["accuracy", "ups", None, None, None, None, None, None, 1, 2, 0.5, False],
        ["accuracy", "all", None, None, None, None, None, None, 1, 2, 0.5, False],
    ]


AUTH = {"Authorization": "Bearer test-api-token"}
NOVEMBER = "since=2026-11-02&until=2026-11-29"


@pytest.fixture
def shop(service):
    with service.runtime.sessions.begin() as writing:
        seed(writing, STORY)
    return service


def test_the_api_answers_the_estimates_report_as_json_and_csv(shop):
    answer = shop.client.get(f"/api/v1/reports/estimates?{NOVEMBER}", headers=AUTH)
    assert answer.status_code == 200, answer.json
    assert answer.json["accuracy"]["share"] == 0.5
    assert [row["lane"] for row in answer.json["lanes"]] == ["anywhere", "US", "US-NY", "US 100*"]
    as_csv = shop.client.get(f"/api/v1/reports/estimates.csv?{NOVEMBER}", headers=AUTH)
    lines = as_csv.get_data(as_text=True).splitlines()
    assert lines[0] == (
        "table,carrier,service,basis,lane,p50_days,p90_days,samples,on_time,judged,share,sampled"
    )
    assert lines[1] == "lane,ups,,carrier,anywhere,2,4,8,,,,"
    assert lines[-1] == "accuracy,all,,,,,,,1,2,0.5,False"
    bad = shop.client.get("/api/v1/reports/estimates?since=soon", headers=AUTH)
    assert bad.status_code == 400 and "since" in bad.json["error"]


def test_the_api_dates_the_estimates_in_the_shops_business_days(start, monkeypatch):
    # With Tuesday 10 November and Wednesday 11 off, J2's p90 day is Friday 13: on time.
    service = start(HOLIDAYS="2026-11-10,2026-11-11")
    with service.runtime.sessions.begin() as writing:
        seed(writing, STORY)
    answer = service.client.get(f"/api/v1/reports/estimates?{NOVEMBER}", headers=AUTH)
    assert answer.json["accuracy"]["on_time"] == 2, answer.json


def test_the_openapi_document_describes_the_estimates_report(shop):
    document = shop.client.get("/api/v1/openapi.json").json
    operation = document["paths"]["/api/v1/reports/estimates"]["get"]
    assert "reports" in operation["tags"]
    assert "/api/v1/reports/estimates.csv" in document["paths"]
    schema = document["components"]["schemas"]
    assert {"lanes", "accuracy"} <= set(schema["EstimatesReport"]["properties"])


def test_a_report_with_lanes_matches_its_schema(shop):
    import schemathesis

    from tests.integration.test_api_contract import CHECKS

    api = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", shop.app)
    case = api["/api/v1/reports/estimates"]["GET"].Case(
        query={"since": "2026-11-02", "until": "2026-11-29"}
    )
    response = case.call_and_validate(headers=AUTH, checks=CHECKS)
    assert len(response.json()["lanes"]) == 4


def test_the_performance_page_shows_the_lanes_and_the_accuracy(shop):
    from tests.integration.test_reports import _cells, _signed_in

    page = _signed_in(shop, "staff").get(f"/admin/performance?{NOVEMBER}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-chart="estimates-chart"' in html
    assert _cells(html, 'data-accuracy="ups"') == ["ups", "2", "1", "50%"]
    assert _cells(html, 'data-lane="ups-US-NY"') == ["ups", "US-NY", "2", "4", "7"]
    assert 'href="/api/v1/reports/estimates.csv?since=2026-11-02&amp;until=2026-11-29"' in html


def test_the_page_lists_the_widest_lanes_first_and_leaves_the_rest_to_the_csv(shop, monkeypatch):
    from service.console import performance
    from tests.integration.test_reports import _signed_in

    monkeypatch.setattr(performance, "LANES_SHOWN", 2)
    html = _signed_in(shop, "staff").get(f"/admin/performance?{NOVEMBER}").get_data(as_text=True)
    assert re.findall(r'data-lane="([^"]+)"', html) == ["ups-anywhere", "ups-US"]
    assert "2 narrower lanes more in the CSV." in html
