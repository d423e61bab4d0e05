"""The shared story moved in time (`tests.support.webhooks.moved`): the browser tests tell it
as if it ended two days ago, so the tracking page (and the README's screenshots of it) shows
dates a customer could see today, its return window a month ahead rather than a century.
Moving changes the dates and nothing else, and every webhook still verifies."""

import re
from datetime import date, timedelta

from werkzeug.datastructures import Headers

from ordertrack import providers
from ordertrack.providers.base import Credentials, WebhookRequest
from tests.support.webhooks import SECRETS, STORY, days_to_recent, moved

DATE = re.compile(rb"\d{4}-\d{2}-\d{2}")
DAYS = 33


def days_in(body: bytes) -> list[date]:
    return [date.fromisoformat(found.decode()) for found in DATE.findall(body)]


def test_a_story_moved_by_days_to_recent_ends_that_many_days_before_today():
    days = days_to_recent(STORY, ended_days_ago=2)
    assert days_to_recent(moved(STORY, days), ended_days_ago=2) == 0
    assert days_to_recent(moved(STORY, days), ended_days_ago=0) == 2


def test_moving_shifts_every_date_in_every_body_by_the_days_and_changes_nothing_else():
    for original, later in zip(STORY, moved(STORY, DAYS), strict=True):
        assert days_in(original.body), f"{original.name} has no dates"
        expected = [day + timedelta(days=DAYS) for day in days_in(original.body)]
        assert days_in(later.body) == expected, original.name
        assert DATE.sub(b"D", later.body) == DATE.sub(b"D", original.body), original.name


def test_every_moved_webhook_still_verifies_with_its_source_s_secret():
    for request in moved(STORY, DAYS):
        delivery = WebhookRequest(request.body, Headers(request.headers), request.query)
        credentials = Credentials(secrets=(SECRETS[request.source],))
        providers.get(request.source).verify(delivery, credentials)
        assert request.body != next(r.body for r in STORY if r.name == request.name)
