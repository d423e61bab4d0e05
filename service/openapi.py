"""The OpenAPI 3.1 document of `/api/v1`, built by apispec from the marshmallow schemas in
service/api_schemas.py, and what each operation answers.

The paths come from the Flask app's own routes, so a route cannot be served without being
described: `build_document` refuses an endpoint under /api/v1 that OPERATIONS does not name
(tests/integration/test_openapi.py builds it for the real app). The document and the
reference page are public (no token): they describe the API, they hold no data.
"""

import inspect
import re
from dataclasses import dataclass, field
from importlib.metadata import version

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask
from marshmallow import Schema

from ordertrack.store.models import ID_MAX
from service import api_schemas as s

PREFIX = "/api/v1"
BEARER = "bearerAuth"
JSON = "application/json"

#: What each error status means, whichever operation answers it.
ERRORS = {
    400: "The request is malformed: the error names the value that is wrong.",
    401: "Missing or wrong bearer token, or API_TOKEN is not set on the server.",
    404: "No such resource (the error names what was looked for).",
    409: "The resource is not in a state that allows this; `details` says where it stands.",
}
SUCCESS = {200: "OK.", 202: "Accepted: the work is queued and happens after this answer."}

#: The text of a path parameter, by its name in the Flask route.
PATH_PARAMETERS = {
    "platform": "The shop platform (`shopify`, `woocommerce`, `bigcommerce`).",
    "external_id": "The platform's order id.",
    "carrier": "The carrier's name, in any case (`UPS`, `usps`, ...).",
    "tracking_number": "The tracking number; spaces and case do not matter.",
    "outbox_id": "The notification's `id`.",
    "return_id": "The return's `id`.",
}


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    #: The success answer: a schema for JSON, or a media type for anything else.
    answer: type[Schema] | str
    status: int = 200
    errors: tuple[int, ...] = ()
    query: type[Schema] | None = None
    body: type[Schema] | None = None
    body_required: bool = False
    public: bool = False
    #: The same answer as CSV too (`?format=csv`).
    also_csv: bool = False
    extra: dict = field(default_factory=dict)


_STEP = (400, 404, 409)
#: Every endpoint under /api/v1, by its Flask endpoint name.
OPERATIONS: dict[str, Operation] = {
    "api.list_orders": Operation(
        "Search and list orders",
        "orders",
        s.OrderPageSchema,
        errors=(400,),
        query=s.OrderQuerySchema,
    ),
    "api.get_order": Operation("One order, whole", "orders", s.OrderSchema, errors=(404,)),
    "api.get_shipment": Operation(
        "A parcel, with its order whole", "orders", s.ShipmentWithOrderSchema, errors=(404,)
    ),
    "api.list_notifications": Operation(
        "Notifications by status, across orders",
        "notifications",
        s.NotificationListSchema,
        errors=(400,),
        query=s.NotificationQuerySchema,
    ),
    "api.resend_notification": Operation(
        "Send a failed notification again",
        "notifications",
        s.NotificationSchema,
        status=202,
        errors=(404, 409),
    ),
    "api.get_unknown_codes": Operation(
        "Status codes no provider table maps", "webhooks", s.UnknownCodeListSchema
    ),
    "api.replay_webhooks": Operation(
        "Apply stored webhooks again",
        "webhooks",
        s.ReplayAnswerSchema,
        status=202,
        errors=(400,),
        body=s.ReplayRequestSchema,
        body_required=True,
    ),
    "returns_api.list_returns": Operation(
        "Search and list returns",
        "returns",
        s.ReturnListSchema,
        errors=(400,),
        query=s.ReturnQuerySchema,
    ),
    "returns_api.export_returns": Operation(
        "Returns as CSV, all of them",
        "returns",
        "text/csv",
        errors=(400,),
        query=s.ReturnQuerySchema,
    ),
    "returns_api.get_return": Operation(
        "One return, with its history", "returns", s.ReturnWithHistorySchema, errors=(404,)
    ),
    "returns_api.approve": Operation(
        "Approve a requested return",
        "returns",
        s.ReturnWithHistorySchema,
        errors=_STEP,
        body=s.ReturnStepSchema,
    ),
    "returns_api.reject": Operation(
        "Reject a requested return",
        "returns",
        s.ReturnWithHistorySchema,
        errors=_STEP,
        body=s.ReturnStepSchema,
    ),
    "returns_api.attach_tracking": Operation(
        "The return parcel is on its way",
        "returns",
        s.ReturnWithHistorySchema,
        errors=_STEP,
        body=s.ReturnTrackingSchema,
        body_required=True,
    ),
    "returns_api.mark_received": Operation(
        "The shop received the return",
        "returns",
        s.ReturnWithHistorySchema,
        errors=_STEP,
        body=s.ReturnStepSchema,
    ),
    "returns_api.mark_refunded": Operation(
        "The return is refunded",
        "returns",
        s.ReturnWithHistorySchema,
        errors=_STEP,
        body=s.ReturnStepSchema,
    ),
    "api_docs.openapi_document": Operation(
        "This OpenAPI document", "reference", "application/json", public=True
    ),
    "api_docs.reference_page": Operation(
        "This document as a readable page", "reference", "text/html", public=True
    ),
}

#: The reports' words in the document, by name (ordertrack/store/reports.py REPORTS).
REPORT_SUMMARIES = {
    "funnel": "Orders by stage now, as a funnel",
    "stages": "Stage durations p50/p90 by week, with the bottleneck",
    "carriers": "Carrier scorecards by carrier and destination",
    "delays": "Delay flags raised and cleared per week, open by kind",
    "returns": "Returns by reason, return rate per product",
    "notifications": "Notification delivery rate per channel",
    "estimates": "Learned delivery estimates by lane, and their accuracy",
}
for _name, _summary in REPORT_SUMMARIES.items():
    OPERATIONS[f"reports_api.report_{_name}"] = Operation(
        _summary,
        "reports",
        s.REPORT_SCHEMAS[_name],
        errors=(400,),
        query=s.ReportQuerySchema,
        also_csv=True,
    )
    OPERATIONS[f"reports_api.report_{_name}_csv"] = Operation(
        f"{_summary}, as CSV", "reports", "text/csv", errors=(400,), query=s.ReportPeriodQuerySchema
    )

_PARAMETER = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_DESCRIPTION = """Order tracking for the merchant: orders and their parcels, notifications,
returns, and the webhooks behind them. Every operation needs `Authorization: Bearer
<API_TOKEN>` (the server's `API_TOKEN` setting), except this document and its page.
Every error answer is JSON: `{"error": "...", "status": 4xx, "details": ...}`."""


class Undocumented(LookupError):
    """A route under /api/v1 that OPERATIONS does not describe."""


def build_document(app: Flask) -> dict:
    """The whole document, from the app's routes: every /api/v1 endpoint, each described."""
    spec = APISpec(
        title="ordertrack API",
        version=version("ordertrack"),
        openapi_version="3.1.0",
        plugins=[MarshmallowPlugin()],
        info={"description": _DESCRIPTION},
        security=[{BEARER: []}],
    )
    spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer", "description": "The server's API_TOKEN."}
    )
    spec.components.schema("Error", schema=s.ErrorSchema)
    for path, methods in _routes(app).items():
        operations = {m: _operation(e, path, app.view_functions[e]) for m, e in methods}
        spec.path(path=path, operations=operations, parameters=_path_parameters(path))
    return spec.to_dict()


def _routes(app: Flask) -> dict[str, list[tuple[str, str]]]:
    """OpenAPI path -> [(method, endpoint)], for every rule under the prefix."""
    routes: dict[str, list[tuple[str, str]]] = {}
    missing = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if not rule.rule.startswith(PREFIX + "/"):
            continue
        if rule.endpoint not in OPERATIONS:
            missing.append(rule.endpoint)
        path = _PARAMETER.sub(lambda m: "{" + m["name"] + "}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            routes.setdefault(path, []).append((method.lower(), rule.endpoint))
    if missing:
        raise Undocumented(f"describe these in service/openapi.py OPERATIONS: {missing}")
    return routes


def _path_parameters(path: str) -> list[dict]:
    return [_path_parameter(name) for name in re.findall(r"{(\w+)}", path)]


def _path_parameter(name: str) -> dict:
    if name.endswith("_id") and name != "external_id":
        # Flask's int converter: digits only; a larger id than the column holds is a 404.
        schema: dict = {"type": "integer", "minimum": 0, "maximum": ID_MAX}
    else:
        schema = {"type": "string", "minLength": 1}
    description = PATH_PARAMETERS.get(name, name)
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": schema,
    }


def _operation(endpoint: str, path: str, view) -> dict:
    """One method of one path; its description is the view's docstring, the why written once."""
    op = OPERATIONS[endpoint]
    doc = {
        "operationId": endpoint.split(".", 1)[1],
        "summary": op.summary,
        "tags": [op.tag],
        "responses": {str(op.status): _success(op)} | _errors(op, path),
    }
    if view.__doc__:
        doc["description"] = inspect.cleandoc(view.__doc__)
    if op.query:
        doc["parameters"] = [{"in": "query", "schema": op.query}]
    if op.body:
        doc["requestBody"] = {"required": op.body_required, "content": {JSON: {"schema": op.body}}}
    if op.public:
        doc["security"] = []
    return doc | op.extra


def _success(op: Operation) -> dict:
    if isinstance(op.answer, str):
        schema = {"type": "object"} if op.answer == JSON else {"type": "string"}
        return {"description": SUCCESS[op.status], "content": {op.answer: {"schema": schema}}}
    content = {JSON: {"schema": op.answer}}
    if op.also_csv:
        content["text/csv"] = {"schema": {"type": "string"}}
    return {"description": SUCCESS[op.status], "content": content}


def _errors(op: Operation, path: str) -> dict:
    codes = set(op.errors)
    if not op.public:
        codes.add(401)
    if "{" in path:
        codes.add(404)  # a path value no row has (or that holds a NUL)
    error = {JSON: {"schema": "Error"}}
    return {str(code): {"description": ERRORS[code], "content": error} for code in sorted(codes)}
