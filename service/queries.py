"""Reading the merchant's filters from a query string or a JSON body: one reading for the API
and the console, each value checked, with an error that says which one is wrong."""

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from ordertrack import delays
from ordertrack.replay import ReplayFilter
from ordertrack.statuses import OrderStatus
from ordertrack.store import reports
from ordertrack.store.models import ID_MAX
from ordertrack.store.search import ANY_FLAG, DEFAULT_LIMIT, MAX_LIMIT, OrderFilters

#: What `flag` may say: a delay flag's kind, or any of them.
FLAG_VALUES = (ANY_FLAG, *delays.KINDS)


def order_query(args: Mapping[str, str]) -> tuple[OrderFilters, str | None, int]:
    """(filters, cursor, limit) from `q`, `status`, `platform`, `carrier`, `since`, `until`,
    `flag`, `cursor`, `limit`; ValueError names the bad one."""
    _no_nul(args)
    status = args.get("status") or None
    if status and status not in set(OrderStatus):
        raise ValueError(f"status must be one of {', '.join(OrderStatus)}")
    flag = args.get("flag") or None
    if flag and flag not in FLAG_VALUES:
        raise ValueError(f"flag must be one of {', '.join(FLAG_VALUES)}")
    filters = OrderFilters(
        q=args.get("q") or None,
        flag=flag,
        status=status,
        platform=args.get("platform") or None,
        carrier=args.get("carrier") or None,
        since=moment(args.get("since"), "since"),
        until=moment(args.get("until"), "until"),
    )
    return filters, args.get("cursor") or None, _limit(args.get("limit"))


def replay_filter(body: Mapping[str, Any]) -> ReplayFilter:
    ids = body.get("ids") or []
    if not isinstance(ids, list) or not all(_row_id(i) for i in ids):
        raise ValueError("ids must be a list of inbox ids (positive integers)")
    texts = {name: body.get(name) for name in ("status", "source", "since", "until")}
    for name, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"{name} must be a string")
    _no_nul({k: v for k, v in texts.items() if v})
    filters = ReplayFilter(
        ids=tuple(ids),
        status=texts["status"] or None,
        source=texts["source"] or None,
        since=moment(texts["since"], "since"),
        until=moment(texts["until"], "until"),
    )
    filters.check()
    return filters


def moment(text: str | None, name: str) -> datetime | None:
    """An ISO date or time; a time without a zone is UTC."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be an ISO date or time, like 2026-12-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _limit(text: str | None) -> int:
    if not text:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _row_id(value: object) -> bool:
    """A positive id a row can have (`true` is not 1 here, though Python says so)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= ID_MAX


def _no_nul(values: Mapping[str, str]) -> None:
    """A NUL cannot reach PostgreSQL as a parameter: refuse it here, with its name."""
    for name, value in values.items():
        if isinstance(value, str) and "\x00" in value:
            raise ValueError(f"{name} must not contain a NUL character")


def report_period(args: Mapping[str, str], now: datetime) -> reports.Period:
    """The reports' `since` and `until` (ISO dates or times; a date alone as `until` means
    to the end of that day), by default the last eight weeks; ValueError names the bad one."""
    _no_nul(args)
    until_text = args.get("until") or ""
    try:
        since, until = moment(args.get("since"), "since"), moment(until_text, "until")
        if until is not None and len(until_text) == len("2026-12-01"):
            until += timedelta(days=1)
        return reports.period(since, until, now)
    except OverflowError:
        raise ValueError("since and until must be dates between the years 1 and 9999") from None
