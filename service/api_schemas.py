"""The shapes of `/api/v1`, as marshmallow schemas: each answer, each request body, each query.

They are the source of the OpenAPI document (service/openapi.py), so what the document says
is what a schema says. The answers are built by the read models (ordertrack/store/documents.py,
ordertrack/store/returns.py `document`); a field that may be null says `allow_none`, and
every field an answer always carries is `required`, so a contract test notices when a read
model drops or renames one. Request bodies and queries are still checked by hand in their
views (service/queries.py, service/returns_api.py), with messages that name the bad value;
these schemas describe what those checks accept.
"""

from marshmallow import Schema, fields, validate

from ordertrack import delays
from ordertrack.replay import REPLAYABLE
from ordertrack.returns.line import REASONS, MovedBy, ReturnStatus
from ordertrack.statuses import OrderStatus, ShipmentStatus
from ordertrack.store.models import ID_MAX, OutboxStatus
from ordertrack.store.search import ANY_FLAG, MAX_LIMIT

#: The order list's `flag` filter: a delay flag's kind, or any (service/queries.py checks it).
FLAG_VALUES = (ANY_FLAG, *delays.KINDS)

#: The longest note a merchant may put on a return's step (service/returns_api.py checks it).
NOTE_MAX = 2000


#: An ISO 8601 date or date-time, as `datetime.fromisoformat` reads it (it reads a few more).
ISO_MOMENT = r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$"


def _moment(description: str, **options) -> fields.String:
    """A date or time in a query or body: ISO text, so a date alone may mean a whole day."""
    return fields.String(
        validate=validate.Regexp(ISO_MOMENT), metadata={"description": description}, **options
    )


def _text(description: str, **options) -> fields.String:
    return fields.String(required=True, metadata={"description": description}, **options)


def _maybe(field: type[fields.Field], description: str, **options) -> fields.Field:
    """Always present, possibly null: the reader can tell "not known" from "not sent"."""
    return field(required=True, allow_none=True, metadata={"description": description}, **options)


def _one_of(values) -> validate.OneOf:
    return validate.OneOf([str(value) for value in values])


class ErrorSchema(Schema):
    """Every 4xx/5xx answer (service/errors.py `error_response`)."""

    error = _text("What went wrong, in words.")
    status = fields.Integer(required=True, metadata={"description": "The HTTP status again."})
    details = fields.Raw(metadata={"description": "More about it, when there is more to say."})


# --- orders and shipments ---------------------------------------------------------------


class LearnedEstimateSchema(Schema):
    """When a parcel should arrive, learned from this shop's past deliveries on its lane:
    p50 to p90 business days after its first carrier scan (after today, before one)."""

    from_ = fields.Date(
        required=True,
        data_key="from",
        metadata={"description": "The p50 day: half the lane's parcels had arrived by then."},
    )
    to = fields.Date(
        required=True,
        metadata={"description": "The p90 day: `past_estimate` is flagged after it."},
    )
    basis = _text(
        "The narrowest lane with enough deliveries: `postcode` (prefix), `region`, "
        "`country` or `carrier` (the carrier alone).",
        validate=validate.OneOf(["postcode", "region", "country", "carrier"]),
    )
    samples = fields.Integer(
        required=True, metadata={"description": "How many deliveries it was learned from."}
    )


class ShipmentSchema(Schema):
    """One parcel: the carrier's own status, and what the carrier last said."""

    carrier = _maybe(fields.String, "The carrier's name (as the platform or carrier gave it).")
    tracking_number = _maybe(fields.String, "Normalized: no spaces, upper case.")
    tracking_url = _maybe(fields.String, "The carrier's tracking page, if a platform sent one.")
    fulfillment_id = _maybe(fields.String, "The platform's fulfillment the parcel came from.")
    status = _text("The parcel's canonical status.", validate=_one_of(ShipmentStatus))
    status_detail = _maybe(fields.String, "A finer reason (e.g. `address_issue`).")
    raw_status = _maybe(fields.String, "The provider's own code, as sent.")
    status_at = _maybe(fields.DateTime, "When the carrier reported the current status.")
    est_delivery = _maybe(fields.Date, "The carrier's delivery estimate.")
    learned_estimate = fields.Nested(
        LearnedEstimateSchema,
        required=True,
        allow_none=True,
        metadata={
            "description": "Where the carrier gave no date, one learned from past deliveries; "
            "null with a carrier date, once arrived, without enough deliveries, and in lists "
            "(only an order's or a shipment's own document carries it)."
        },
    )
    cancelled = fields.Boolean(required=True)
    removed = fields.Boolean(
        required=True, metadata={"description": "No longer in the platform's fulfillments."}
    )


class FlagSchema(Schema):
    """An open delay flag: the order (before it ships) or a parcel later than it should be."""

    kind = _text("What kind of delay.", validate=_one_of(delays.KINDS))
    parcel = _maybe(fields.String, "The parcel's key, or null for the order's own delay.")
    since = fields.DateTime(required=True, metadata={"description": "When the deadline passed."})
    detail = _text("Why, in words (the last scan, the estimate, ...).")


class OrderSummarySchema(Schema):
    """An order as a list shows it: status, progress and parcels."""

    platform = _text("The shop platform (`shopify`, `woocommerce`, ...).")
    external_id = _text("The platform's order id.")
    name = _maybe(fields.String, "The order number the customer sees (e.g. `#1042`).")
    status = _text("The order's canonical status.", validate=_one_of(OrderStatus))
    platform_status = _maybe(fields.String, "The platform's own order status.")
    progress = _maybe(fields.String, "'1 of 2 delivered' while parcels arrive apart.")
    updated_at = fields.DateTime(required=True, metadata={"description": "The last change."})
    shipments = fields.List(fields.Nested(ShipmentSchema), required=True)
    flags = fields.List(
        fields.Nested(FlagSchema),
        required=True,
        metadata={"description": "Open delay flags, oldest first (cleared ones are not shown)."},
    )


class SourceEventSchema(Schema):
    """The webhook a history entry came from."""

    inbox_id = fields.Integer(required=True)
    source = _text("The provider that sent it.")
    topic = _text("The provider's event type.")
    delivery_id = _text("The provider's id of the webhook (what duplicates share).")


class HistoryEntrySchema(Schema):
    """One fact a provider reported, kept whether or not it moved the order."""

    occurred_at = fields.DateTime(required=True)
    kind = _text("What kind of fact: an order's, a fulfillment's, a carrier's event, ...")
    status = _maybe(fields.String, "The canonical status it reports (`unknown`: unmapped).")
    raw_status = _maybe(fields.String, "The provider's own code, as sent.")
    detail = _maybe(fields.String, "More, as the provider said it.")
    shipment = _maybe(fields.String, "The parcel's key, or null for the order's own facts.")
    source_event = fields.Nested(SourceEventSchema, required=True)


class AttemptSchema(Schema):
    """One try at sending a notification."""

    attempt = fields.Integer(required=True)
    at = fields.DateTime(required=True)
    outcome = _text("`sent`, `retry`, `failed`, ...")
    reason = _maybe(fields.String, "Why it did not go, in the channel's words.")


class NotificationSchema(Schema):
    """One message to the customer (or the merchant), at most once per parcel and kind."""

    id = fields.Integer(required=True)
    kind = _text("What the message tells (`shipped`, `delivered`, ...).")
    parcel = _maybe(fields.String, "The parcel's key, or null for the order's own news.")
    channel = _text("`email`, `sms` or `merchant_webhook`.")
    recipient = _text("Masked: enough to recognise, not to read.")
    status = _text("Where the message stands.", validate=_one_of(OutboxStatus.ALL))
    attempts = fields.Integer(required=True)
    reason = _maybe(fields.String, "The last error, if any.")
    created_at = fields.DateTime(required=True)
    due_at = _maybe(fields.DateTime, "Not sent before (quiet hours, coalescing).")
    sent_at = _maybe(fields.DateTime, "When it went out.")


class OrderNotificationSchema(NotificationSchema):
    attempt_log = fields.List(fields.Nested(AttemptSchema), required=True)


class OrderSchema(OrderSummarySchema):
    """An order whole: the summary, its full history and every notification."""

    history = fields.List(fields.Nested(HistoryEntrySchema), required=True)
    notifications = fields.List(fields.Nested(OrderNotificationSchema), required=True)


class OrderPageSchema(Schema):
    orders = fields.List(fields.Nested(OrderSummarySchema), required=True)
    next_cursor = _maybe(fields.String, "Pass as `cursor` for the next page; null on the last.")


class ShipmentWithOrderSchema(ShipmentSchema):
    order = fields.Nested(OrderSchema, required=True)


class OrderRefSchema(Schema):
    platform = _text("The shop platform.")
    external_id = _text("The platform's order id.")


class NotificationWithOrderSchema(NotificationSchema):
    order = fields.Nested(OrderRefSchema, required=True)


class NotificationListSchema(Schema):
    notifications = fields.List(fields.Nested(NotificationWithOrderSchema), required=True)


class UnknownCodeSchema(Schema):
    """A status code a provider sent that its table does not map: stored, never guessed."""

    source = _text("The provider.")
    raw_status = _maybe(fields.String, "The code, as sent.")
    count = fields.Integer(required=True)
    last_seen = _maybe(fields.DateTime, "The newest event that carried it.")


class UnknownCodeListSchema(Schema):
    unknown_codes = fields.List(fields.Nested(UnknownCodeSchema), required=True)


# --- replay -------------------------------------------------------------------------------


class ReplayRequestSchema(Schema):
    """What to replay: ids, or a filter (at least one of them)."""

    ids = fields.List(
        fields.Integer(strict=True, validate=validate.Range(min=1, max=ID_MAX)),
        metadata={"description": "Inbox ids."},
    )
    status = fields.String(allow_none=True, validate=_one_of(REPLAYABLE))
    source = fields.String(allow_none=True)
    since = _moment("Received on or after (ISO date or time).", allow_none=True)
    until = _moment("Received before (ISO date or time).", allow_none=True)
    dry_run = fields.Boolean(metadata={"description": "Only count them (true or false)."})


class ReplayAnswerSchema(Schema):
    count = fields.Integer(required=True, metadata={"description": "How many (would) replay."})
    ids = fields.List(fields.Integer(), required=True, metadata={"description": "The first."})
    dry_run = fields.Boolean(required=True)


# --- returns ------------------------------------------------------------------------------


class ReturnOrderSchema(OrderRefSchema):
    name = _maybe(fields.String, "The order number the customer sees.")


class ReturnItemSchema(Schema):
    line_item_id = _text("The platform's line item.")
    title = _text("What the item is.")
    quantity = fields.Integer(required=True)


class ReturnHistoryEntrySchema(Schema):
    at = fields.DateTime(required=True)
    status = _text("The status it moved to.", validate=_one_of(ReturnStatus))
    note = _maybe(fields.String, "The merchant's or the carrier's note.")
    actor = _text("Who moved it.", validate=_one_of(MovedBy))


class ReturnSchema(Schema):
    """A customer's return, as the list shows it."""

    id = fields.Integer(required=True)
    status = _text("Where the return stands.", validate=_one_of(ReturnStatus))
    reason = _text("The customer's reason.", validate=_one_of(REASONS))
    comment = _maybe(fields.String, "The customer's own words.")
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    tracking_number = _maybe(fields.String, "The return parcel's tracking number.")
    carrier = _maybe(fields.String, "The return parcel's carrier.")
    note = _maybe(fields.String, "The latest note on a step.")
    order = fields.Nested(ReturnOrderSchema, required=True)
    items = fields.List(fields.Nested(ReturnItemSchema), required=True)


class ReturnWithHistorySchema(ReturnSchema):
    history = fields.List(fields.Nested(ReturnHistoryEntrySchema), required=True)


class ReturnListSchema(Schema):
    returns = fields.List(fields.Nested(ReturnSchema), required=True)


class ReturnStepSchema(Schema):
    note = fields.String(
        allow_none=True,
        validate=validate.Length(min=1, max=NOTE_MAX),
        metadata={"description": "Shown on the return's history (no NUL characters)."},
    )


class ReturnTrackingSchema(ReturnStepSchema):
    tracking_number = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={"description": "Spaces are dropped and letters upper-cased."},
    )
    carrier = fields.String(required=True, validate=validate.Length(min=1, max=64))


# --- queries ------------------------------------------------------------------------------


def _query_text(description: str, **options) -> fields.String:
    return fields.String(metadata={"description": description}, **options)


class OrderQuerySchema(Schema):
    q = _query_text("Order number, customer email, the start of their name, tracking number.")
    status = _query_text("Only orders with this status.", validate=_one_of(OrderStatus))
    platform = _query_text("Only this platform's orders.")
    carrier = _query_text("Only orders with a parcel of this carrier.")
    since = _moment("Last change on or after (ISO date or time; no zone means UTC).")
    until = _moment("Last change before (ISO date or time; no zone means UTC).")
    flag = _query_text(
        "Only orders with an open delay flag of this kind, or `any`.",
        validate=_one_of(FLAG_VALUES),
    )
    cursor = _query_text("The `next_cursor` the previous page gave.")
    limit = fields.Integer(
        validate=validate.Range(min=1, max=MAX_LIMIT), metadata={"description": "Page size."}
    )


class NotificationQuerySchema(Schema):
    status = _query_text(
        "Messages with this status (default `failed`).", validate=_one_of(OutboxStatus.ALL)
    )


class ReturnQuerySchema(Schema):
    status = _query_text("Only returns with this status.", validate=_one_of(ReturnStatus))
    reason = _query_text("Only returns for this reason.", validate=_one_of(REASONS))
    order = _query_text("The order's id or number (e.g. `#1042`).")
    since = _moment("Created on or after (ISO date or date-time; a date is its whole day).")
    until = _moment("Created before the end of (ISO date or date-time).")


# --- reports (ordertrack/store/reports.py) ---------------------------------------------


class ReportPeriodQuerySchema(Schema):
    """A report's period; without one, the last eight weeks (at most 366 days). Reports about
    orders (funnel, stages, carriers, per-product return rates) count the whole UTC days the
    period touches, by the day each order reached us."""

    since = _moment("From this date or time (UTC if no zone); default 8 weeks before `until`.")
    until = _moment("Up to this date or time, excluded; a date alone means to its end.")


class ReportQuerySchema(ReportPeriodQuerySchema):
    format = fields.String(
        validate=validate.OneOf(["json", "csv"]),
        metadata={"description": "`csv` answers the same numbers as one CSV table."},
    )


def _count(description: str, **options) -> fields.Integer:
    return fields.Integer(required=True, metadata={"description": description}, **options)


def _ratio(description: str) -> fields.Float:
    return _maybe(fields.Float, description + " From 0 to 1; null when there is nothing to count.")


class _Period(Schema):
    since = fields.DateTime(required=True, metadata={"description": "The period's start."})
    until = fields.DateTime(required=True, metadata={"description": "Its end, excluded."})


class FunnelRowSchema(Schema):
    status = _text("An order status.", validate=_one_of(OrderStatus))
    line = _text("`main` for the main line, `detour` off it.", validate=_one_of(["main", "detour"]))
    orders = _count("The period's orders at this status now.")
    at_or_past = _maybe(fields.Integer, "Orders at this main-line step or further (detours: null).")


class FunnelReportSchema(_Period):
    """Orders of the period (by when they reached us) by where they stand now."""

    total = _count("The period's orders.")
    rows = fields.List(fields.Nested(FunnelRowSchema), required=True)


class StageFigureSchema(Schema):
    count = _count("Orders with this stage done.")
    p50_hours = _maybe(fields.Float, "Median, in hours.")
    p90_hours = _maybe(fields.Float, "90th percentile, in hours.")


class StageWeekSchema(Schema):
    week = _text("The ISO week the orders were placed (`2026-W45`), or `all`.")
    warehouse = fields.Nested(StageFigureSchema, required=True)
    pickup = fields.Nested(StageFigureSchema, required=True)
    transit = fields.Nested(StageFigureSchema, required=True)
    order_to_delivered = fields.Nested(StageFigureSchema, required=True)
    bottleneck = _maybe(fields.String, "The stage with the longest median (of the first three).")


class StagesReportSchema(_Period):
    """Stage durations by week: warehouse (order to shipped), pickup (to the first scan),
    transit (to delivered), and order to delivered."""

    weeks = fields.List(fields.Nested(StageWeekSchema), required=True)
    overall = fields.Nested(StageWeekSchema, required=True)


class CarrierRowSchema(Schema):
    carrier = _text("The carrier, in lower case.")
    country = _maybe(
        fields.String, "The destination country (ISO 3166 code); null in the carrier's total."
    )
    region = _maybe(
        fields.String, "The destination region (state or province code); null in the total."
    )
    parcels = _count("Parcels of the period's orders.")
    delivered = _count("Of them, delivered.")
    on_time_share = _ratio("Delivered on or before the carrier's estimate, of those with one.")
    first_attempt_share = _ratio("Delivered with no failed attempt before, of those delivered.")
    exception_share = _ratio("Parcels that had a carrier exception.")
    transit_p50_days = _maybe(fields.Float, "Median days from first scan to delivered.")
    transit_p90_days = _maybe(fields.Float, "90th percentile of the same.")


class CarriersReportSchema(_Period):
    """Carrier scorecards: each carrier's total, and by destination country and region."""

    carriers = fields.List(
        fields.Nested(CarrierRowSchema),
        required=True,
        metadata={"description": "One scorecard per carrier, every destination together."},
    )
    rows = fields.List(
        fields.Nested(CarrierRowSchema),
        required=True,
        metadata={"description": "One scorecard per carrier, country and region."},
    )


class DelayWeekSchema(Schema):
    week = _text("ISO week.")
    raised = _count("Delay flags raised that week.")
    cleared = _count("Delay flags cleared that week.")


class OpenFlagCountSchema(Schema):
    kind = _text("The flag's kind.", validate=_one_of(delays.KINDS))
    open = _count("Flags of this kind open now.")


class DelaysReportSchema(_Period):
    """Delay flags raised and cleared per week, and open now by kind."""

    weeks = fields.List(fields.Nested(DelayWeekSchema), required=True)
    open_now = fields.List(fields.Nested(OpenFlagCountSchema), required=True)


class ReturnReasonRowSchema(Schema):
    reason = _text("Why the customer sends it back.")
    returns = _count("Returns asked for in the period.")
    items = _count("Items in them.")


class ReturnProductRowSchema(Schema):
    product = _text("The product's title, as the order line names it.")
    ordered = _count("Items ordered in the period's orders.")
    returned = _count("Of those orders, items asked to be returned.")
    return_rate = _ratio("Returned over ordered.")


class ReturnsReportSchema(_Period):
    """Returns by reason, and the return rate per product."""

    reasons = fields.List(fields.Nested(ReturnReasonRowSchema), required=True)
    products = fields.List(fields.Nested(ReturnProductRowSchema), required=True)


class ChannelRowSchema(Schema):
    channel = _text("email, sms or webhook.")
    total = _count("Messages made in the period.")
    delivered = _count("Sent, or confirmed delivered by the provider.")
    failed = _count("Failed for good.")
    delivery_rate = _ratio("Delivered over all.")
    failed_share = _ratio("Failed over all.")


class NotificationsReportSchema(_Period):
    """Notification delivery per channel."""

    rows = fields.List(fields.Nested(ChannelRowSchema), required=True)


class LearnedLaneSchema(Schema):
    carrier = _text("The carrier, in lower case.")
    service = _maybe(
        fields.String,
        "The service level; null: no source reports one, so lanes do not differ by it.",
    )
    basis = _text(
        "How wide the lane is: `postcode` (prefix), `region`, `country`, `carrier` (anywhere).",
        validate=validate.OneOf(["postcode", "region", "country", "carrier"]),
    )
    lane = _text(
        "From the shop to: `anywhere`, a country (`US`), a region (`US-NY`) or a postcode "
        "prefix (`US 100*`)."
    )
    p50_days = _count("Median business days from first scan to delivery.")
    p90_days = _count("90th percentile of the same: a parcel is `past_estimate` after it.")
    samples = _count("Deliveries it was learned from.")


class CarrierAccuracySchema(Schema):
    carrier = _text("The carrier, in lower case, or `all`.")
    on_time = _count("Parcels delivered by the p90 date of their learned estimate.")
    judged = _count(
        "Parcels delivered in the period that had a learned estimate at their first scan "
        "(judged by the periodic job six hours after delivery: the newest do not count yet)."
    )
    share = _ratio("On time over judged.")


class EstimateAccuracySchema(CarrierAccuracySchema):
    carrier = fields.String(metadata={"description": "Absent: all carriers together."})
    carriers = fields.List(fields.Nested(CarrierAccuracySchema), required=True)


class EstimatesReportSchema(_Period):
    """Delivery estimates learned from the shop's own deliveries: the lanes known at the
    period's end, and how often the period's parcels arrived by their p90 date."""

    window_days = _count("Days of deliveries estimates are learned from (ESTIMATE_WINDOW_DAYS).")
    lanes = fields.List(fields.Nested(LearnedLaneSchema), required=True)
    accuracy = fields.Nested(EstimateAccuracySchema, required=True)


#: Each report's answer, by its name in the path.
REPORT_SCHEMAS: dict[str, type[Schema]] = {
    "funnel": FunnelReportSchema,
    "stages": StagesReportSchema,
    "carriers": CarriersReportSchema,
    "delays": DelaysReportSchema,
    "returns": ReturnsReportSchema,
    "notifications": NotificationsReportSchema,
    "estimates": EstimatesReportSchema,
}
