"""The estimates report (issue 11): the lanes learned at the period's end and the share of the
period's parcels delivered by their learned p90 date, against numbers worked out by hand, on
SQLite and PostgreSQL; then the same through the API, CSV, the OpenAPI document and the
console's performance page."""

import re
from datetime import UTC, date, datetime

import pytest

from ordertrack import estimate_rollup, lanes
from ordertrack.business_days import Calendar
from ordertrack.store import estimate_report, reports
from ordertrack.store.db import make_engine, make_sessionmaker
from tests.support.lane_story import NOVEMBER as STORY
from tests.support.lane_story import seed

#: November 2026, Monday 2 to Monday 30; business days Mon-Fri in UTC.
SINCE = datetime(2026, 11, 2, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)
PERIOD = reports.Period(SINCE, UNTIL)


#: When the estimates job runs: long after the story.
LATER = datetime(2026, 12, 31, tzinfo=UTC)


def _judged(sessions, learning=None, batch=estimate_rollup.BATCH, now=LATER) -> int:
    return estimate_rollup.run_until_caught_up(sessions, learning or lanes.Learning(), now, batch)


@pytest.fixture
def sessions(database_url):
    engine = make_engine(database_url)
    made = make_sessionmaker(engine)
    with made.begin() as writing:
        seed(writing, STORY)
    yield made
    engine.dispose()


@pytest.fixture
def session(sessions):
    # Eleven parcels have a first scan before delivery: all judged; the one without not.
    assert _judged(sessions) == 11
    with sessions() as reading:
        yield reading


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
    # A 30-day window at the period's end (31 October on) holds J1 and J2 only: too few.
    short = lanes.Learning(window_days=30)
    assert estimate_report.estimates_report(session, PERIOD, short)["lanes"] == []


def test_accuracy_counts_the_periods_parcels_delivered_by_their_p90_date(session):
    accuracy = estimate_report.estimates_report(session, PERIOD)["accuracy"]
    assert accuracy == {
        "on_time": 1,
        "judged": 2,
        "share": 0.5,
        "carriers": [{"carrier": "ups", "on_time": 1, "judged": 2, "share": 0.5}],
    }
    # A period that starts after J1 judges J2 alone.
    later = reports.Period(datetime(2026, 11, 5, tzinfo=UTC), UNTIL)
    assert estimate_report.estimates_report(session, later)["accuracy"]["judged"] == 1


def test_a_delivery_waits_for_the_lag_before_it_is_judged(sessions):
    # The last parcel came on Wednesday 2 December at 10:00: not judged until 16:00.
    assert _judged(sessions, now=datetime(2026, 12, 2, 15, 59, tzinfo=UTC)) == 10
    assert _judged(sessions, now=datetime(2026, 12, 2, 16, 1, tzinfo=UTC)) == 1


def test_each_delivery_is_judged_once_in_small_batches_the_same(sessions):
    # Three deliveries a run: J1 is judged against the October ones stored by earlier runs.
    assert _judged(sessions, batch=3) == 11
    assert _judged(sessions) == 0, "nothing new since"
    with sessions() as session:
        accuracy = estimate_report.estimates_report(session, PERIOD)["accuracy"]
    assert (accuracy["on_time"], accuracy["judged"]) == (1, 2)


def test_a_delivery_reported_again_later_is_not_judged_or_counted_twice(sessions):
    from sqlalchemy import update

    from ordertrack.store.models import Shipment

    assert _judged(sessions, now=datetime(2026, 12, 10, tzinfo=UTC)) == 11
    # Another source says J1 was delivered, on 15 December: its row moves past the cursor.
    with sessions.begin() as session:
        j1 = select_order_id(session, "past-6")
        session.execute(
            update(Shipment)
            .where(Shipment.order_id == j1)
            .values(status_at=datetime(2026, 12, 15, tzinfo=UTC))
        )
    assert _judged(sessions) == 0
    with sessions() as session:
        accuracy = estimate_report.estimates_report(session, PERIOD)["accuracy"]
    assert (accuracy["on_time"], accuracy["judged"]) == (1, 2)
    december = reports.Period(datetime(2026, 12, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    with sessions() as session:
        accuracy = estimate_report.estimates_report(session, december)["accuracy"]
    assert accuracy["judged"] == 1, "the parcel of 2 December alone"


def select_order_id(session, external_id: str) -> int:
    from sqlalchemy import select

    from ordertrack.store.models import Order

    return session.scalar(select(Order.id).where(Order.external_id == external_id))


def test_the_shops_business_days_judge_the_deliveries(sessions):
    # Tuesday 10 and Wednesday 11 November off: from Monday 9, J2's two business days end on
    # Friday 13, the day it came: on time. (It took 2 business days, not 4.)
    calendar = Calendar(dates_off=frozenset({date(2026, 11, 10), date(2026, 11, 11)}))
    assert _judged(sessions, lanes.Learning(calendar)) == 11
    with sessions() as session:
        report = estimate_report.estimates_report(session, PERIOD)
    assert report["accuracy"]["on_time"] == 2
    assert report["lanes"][-1]["p90_days"] == 2


def test_carriers_come_from_the_index_in_lower_case(session):
    from ordertrack.store import lane_deliveries

    assert lane_deliveries.carriers(session) == ["dhl", "ups"]


def test_the_estimates_report_as_one_csv_table(session):
    header, rows = reports.table("estimates", estimate_report.estimates_report(session, PERIOD))
    assert header[:5] == ["table", "carrier", "service", "basis", "lane"]
    assert rows[0] == ["lane", "ups", None, "carrier", "anywhere", 2, 4, 8, None, None, None]
    assert rows[-2:] == [
        ["accuracy", "ups", None, None, None, None, None, None, 1, 2, 0.5],
        ["accuracy", "all", None, None, None, None, None, None, 1, 2, 0.5],
    ]


AUTH = {"Authorization": "Bearer test-api-token"}
NOVEMBER = "since=2026-11-02&until=2026-11-29"


@pytest.fixture
def shop(service):
    from workers import sweeper

    with service.runtime.sessions.begin() as writing:
        seed(writing, STORY)
    assert sweeper.learn_estimates(service.runtime) is False, "caught up in one run"
    return service


def test_the_api_answers_the_estimates_report_as_json_and_csv(shop):
    answer = shop.client.get(f"/api/v1/reports/estimates?{NOVEMBER}", headers=AUTH)
    assert answer.status_code == 200, answer.json
    assert answer.json["accuracy"]["share"] == 0.5
    assert [row["lane"] for row in answer.json["lanes"]] == ["anywhere", "US", "US-NY", "US 100*"]
    as_csv = shop.client.get(f"/api/v1/reports/estimates.csv?{NOVEMBER}", headers=AUTH)
    lines = as_csv.get_data(as_text=True).splitlines()
    assert lines[0] == (
        "table,carrier,service,basis,lane,p50_days,p90_days,samples,on_time,judged,share"
    )
    assert lines[1] == "lane,ups,,carrier,anywhere,2,4,8,,,"
    assert lines[-1] == "accuracy,all,,,,,,,1,2,0.5"
    bad = shop.client.get("/api/v1/reports/estimates?since=soon", headers=AUTH)
    assert bad.status_code == 400 and "since" in bad.json["error"]


def test_the_sweepers_job_judges_in_the_shops_business_days(start):
    from workers import sweeper

    # With Tuesday 10 November and Wednesday 11 off, J2's p90 day is Friday 13: on time.
    service = start(HOLIDAYS="2026-11-10,2026-11-11")
    with service.runtime.sessions.begin() as writing:
        seed(writing, STORY)
    assert sweeper.learn_estimates(service.runtime) is False
    answer = service.client.get(f"/api/v1/reports/estimates?{NOVEMBER}", headers=AUTH)
    assert answer.json["accuracy"]["on_time"] == 2, answer.json


def test_reports_rebuild_judges_every_delivery_again_in_the_shops_calendar_now(
    shop, monkeypatch, capsys
):
    from entry import cli

    report = f"/api/v1/reports/estimates?{NOVEMBER}"
    assert shop.client.get(report, headers=AUTH).json["accuracy"]["on_time"] == 1
    # Tuesday 10 and Wednesday 11 November turn out to have been days off: J2 was on time.
    monkeypatch.setenv("HOLIDAYS", "2026-11-10,2026-11-11")
    assert cli.main(["reports", "rebuild"]) == 0
    out = capsys.readouterr().out
    assert out.strip().endswith("judged 11 deliveries against their learned estimates")
    assert shop.client.get(report, headers=AUTH).json["accuracy"]["on_time"] == 2


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
