"""The shapes of `/api/v1`, as marshmallow schemas: each answer, each request body, each query.

They are the source of the OpenAPI document (service/openapi.py), so what the document says
is what a schema says. The answers are built by the read models (ordertrack/store/views.py,
ordertrack/store/returns.py `document`); a field that may be null says `allow_none`, and
every field an answer always carries is `required`, so a contract test notices when a read
model drops or renames one. Request bodies and queries are still checked by hand in their
views (service/queries.py, service/returns_api.py), with messages that name the bad value;
these schemas describe what those checks accept.
"""

from marshmallow import Schema, fields, validate

from ordertrack import delays
from ordertrack.replay import REPLAYABLE
from ordertrack.returns.line import REASONS, Actor, ReturnStatus
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
    actor = _text("Who moved it.", validate=_one_of(Actor))


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
