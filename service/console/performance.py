"""/admin/performance: the performance picture for a period (issue 11), for staff and admins.
Each report from ordertrack/store/reports.py (the same functions the API and CSV read) as a
chart drawn on our own server (inline SVG from Jinja: no script, no library, no CDN, which the
console's Content-Security-Policy forbids anyway) beside a table of the same numbers."""

from datetime import UTC, datetime, timedelta

from flask import request, url_for

from ordertrack import delays
from ordertrack.returns.line import REASONS
from ordertrack.store import reports
from service.console import bp
from service.console.web import edge, render
from service.queries import report_period

#: What a table or a bar shows for "nothing to count".
NONE = "\N{EN DASH}"
#: Products listed on the page (highest return rate first); the CSV has them all.
PRODUCT_ROWS = 25


@bp.get("/performance")
def performance():
    now = datetime.now(UTC)
    error = None
    try:
        period = report_period(request.args, now)
    except ValueError as problem:
        error, period = str(problem), reports.period(None, None, now)
    found = reports.every_report(edge().sessions, period)
    shown_until = period.until - timedelta(microseconds=1)
    kept = {k: request.args[k] for k in ("since", "until") if request.args.get(k)}
    return render(
        "console/performance.html",
        status=400 if error else 200,
        error=error,
        form={"since": period.since.date().isoformat(), "until": shown_until.date().isoformat()},
        period=period,
        r=found,
        charts=_charts(found),
        stage_words=reports.STAGE_WORDS,
        stages=reports.STAGES,
        flag_words=delays.WORDS,
        reason_words=REASONS,
        product_rows=PRODUCT_ROWS,
        csv={name: url_for(f"reports_api.report_{name}_csv", **kept) for name in found},
    )


def _pct(share: float | None) -> str:
    return NONE if share is None else f"{share * 100:.0f}%"


def _charts(r: dict) -> dict[str, list[dict]]:
    """Each chart's bars: (label, value, text, class). Geometry is the template's."""
    funnel = [
        {"label": row["status"].replace("_", " "), "value": row["at_or_past"],
         "text": str(row["at_or_past"])}
        for row in r["funnel"]["rows"] if row["line"] == "main"
    ] + [
        {"label": row["status"].replace("_", " "), "value": row["orders"],
         "text": f"{row['orders']} now", "cls": "detour"}
        for row in r["funnel"]["rows"] if row["line"] == "detour" and row["orders"]
    ]  # fmt: skip
    overall = r["stages"]["overall"]
    stages = [
        {
            "label": reports.STAGE_WORDS[name].split(" (")[0],
            "value": overall[name]["p50_hours"],
            "text": NONE
            if overall[name]["p50_hours"] is None
            else f"p50 {overall[name]['p50_hours']} h · p90 {overall[name]['p90_hours']} h",
            "cls": "hot"
            if name == overall["bottleneck"]
            else ("total" if name == "order_to_delivered" else ""),
        }
        for name in reports.STAGES
    ]
    carriers = [
        {
            "label": row["carrier"],
            "value": row["on_time_share"] or 0,
            "text": f"{_pct(row['on_time_share'])} on time",
        }
        for row in r["carriers"]["carriers"]
    ]
    weeks = []
    for row in r["delays"]["weeks"]:
        weeks.append(
            {
                "label": f"{row['week']} raised",
                "value": row["raised"],
                "text": str(row["raised"]),
                "cls": "hot",
            }
        )
        weeks.append(
            {
                "label": f"{row['week']} cleared",
                "value": row["cleared"],
                "text": str(row["cleared"]),
            }
        )
    reasons = [
        {
            "label": REASONS.get(row["reason"], row["reason"]),
            "value": row["returns"],
            "text": str(row["returns"]),
        }
        for row in r["returns"]["reasons"]
    ]
    channels = [
        {"label": row["channel"], "value": row["delivery_rate"] or 0,
         "text": f"{_pct(row['delivery_rate'])} delivered, {_pct(row['failed_share'])} failed",
         "cls": "hot" if row["failed"] else ""}
        for row in r["notifications"]["rows"]
    ]  # fmt: skip
    return {
        "funnel": funnel,
        "stages": stages,
        "carriers": carriers,
        "delays": weeks,
        "returns": reasons,
        "notifications": channels,
    }
