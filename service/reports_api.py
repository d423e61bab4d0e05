"""`GET /api/v1/reports/<name>` and `/api/v1/reports/<name>.csv`: the performance reports
(ordertrack/store/reports.py) as JSON, or as CSV (`?format=csv` or the `.csv` path) for a
spreadsheet. A route per report, so that each has its own schema in the OpenAPI document."""

import csv
import io
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, jsonify, request

from ordertrack.store import reports
from service.api import require_token
from service.errors import error_response
from service.queries import report_period

bp = Blueprint("reports_api", __name__, url_prefix="/api/v1")
bp.before_request(require_token)

FORMATS = ("json", "csv")


def csv_response(name: str, report: dict) -> Response:
    """The report as one CSV table (reports.table), named after the report and period."""
    header, rows = reports.table(name, report)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    filename = f"{name}-{report['since'][:10]}-{report['until'][:10]}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    return Response(out.getvalue(), mimetype="text/csv", headers=headers)


def _answer(name: str, as_csv: bool):
    fmt = request.args.get("format") or "json"
    if fmt not in FORMATS:
        return error_response(400, f"format must be one of {', '.join(FORMATS)}")
    try:
        period = report_period(request.args, datetime.now(UTC))
    except ValueError as error:
        return error_response(400, str(error))
    with current_app.extensions["ordertrack"].sessions() as session:
        report = reports.REPORTS[name](session, period)
    if as_csv or fmt == "csv":
        return csv_response(name, report)
    return jsonify(report)


def _register(name: str) -> None:
    """Two routes for one report; each view's docstring is the report's own (the why)."""

    def as_json():
        return _answer(name, as_csv=False)

    def as_csv():
        return _answer(name, as_csv=True)

    as_json.__doc__ = as_csv.__doc__ = reports.REPORTS[name].__doc__
    bp.add_url_rule(f"/reports/{name}", f"report_{name}", as_json, methods=["GET"])
    bp.add_url_rule(f"/reports/{name}.csv", f"report_{name}_csv", as_csv, methods=["GET"])


for _name in reports.REPORTS:
    _register(_name)
