"""Which fact wins: each fact against what the state already knows.

Almost every rule is "the newest fact wins", with a tie-break that does not depend on arrival
order, so applying facts is commutative and idempotent: any permutation of a story's events,
with any duplicates, converges on one state. The table is the rules in words; docs/lifecycle.md
has the same table (change both). A missing time is before every fact; "applied or not" means
the report counts even when it is too old to set the parcel's status. Three ties go to the
order facts are applied in (marked "applied last" or "first kept"); each needs two different
reports of one order stamped with the same instant.

fact                  against               who wins                    why
--------------------  --------------------  --------------------------  ----------------------------
Carrier reports (TrackingFact), on the parcel the report is about (matching.py)
carrier status        the parcel's status   the later time, even when   real life goes backwards:
                                            it is "backwards"           out for delivery -> in
                                                                        transit after a failed try
carrier status at     the parcel's status   the further stage, then     two copies of one scan (the
the same time         of that time          the greater status name,    carrier's, the platform's)
                                            raw code, detail            end the same in any order
the same report       itself                nothing changes             queues and providers repeat
again
carrier `cancelled`   another status of     the other: a cancel ranks   it is not a stage; a later
                      the same time         below every stage           cancel still wins on time
unknown code (no      anything              never applied; kept in the  a guess is wrong news; its
status)                                     history with its raw code   estimate and carrier name
                                                                        still count (next rows)
estimated delivery    the parcel's          the newer report's; at the  dated by its report,
                      estimate              same time the later date    applied or not (UPS's "U"
                                                                        carries only a new date)
carrier's name        the name kept         the least name, from any    shown only when the
                                            report, applied or not      platform named none; the
                                                                        least is order-free
failed attempt        earlier attempts      all kept, a set of times;   each try is news; an
                                            within ONE_ATTEMPT (6 h) of aggregator copies the
                                            a try's first report: one   carrier's scan
any report's stage    the parcel's          the highest, applied or     its news never goes back
                      furthest stage        not                         below it (never stale)
Platform fulfillments (FulfillmentFact), on the parcel of that fulfillment id
fulfillment report    the parcel's newest   the newer, or the same      the platform's latest word
                      report                time (then the one applied  on its own fulfillment
                                            last); a left-out field
                                            keeps the old value
older fulfillment     the newer reports     fills only fields they      a late delivery must not
report                                      left empty                  undo a correction
fulfillment           any report, carrier   cancelled, for good (any    the platform's cancel is
cancelled             or platform, before   report that says so)        final: the parcel no longer
                      or after                                          counts (not `live`)
new tracking number   the old number and    the new number; carrier     the old scans may be another
(newer report)        its carrier news      status back to label, its   parcel's (a typo); they stay
                                            estimate, tries and         in the history
                                            furthest stage cleared
number's start        later reports of the  the earliest report         dates the number's life,
(labelled_at)         same number                                       which matching reads
complete list of      the list kept         the strictly newer (at the  the newest list says which
fulfillment ids                             same time the first kept)   parcels are still there
parcel missing from   its fulfillment       removed if reported no      WooCommerce deletes a
the newest list       report                later than the list; a      tracking item to correct it;
                                            later report keeps it       worked out afresh each time
Platform order reports (OrderFact)
order details (name,  the details kept      the newer, or the same      the platform's latest word
customer, items)                            time (then the one applied
                                            last); a left-out name or
                                            items keeps the old
consent to texts,     a newer customer      the older value stays       leaving out is not
language              that leaves them out                              withdrawing (a removed phone
                                                                        or address is removed)
older order report    the newer details     fills only consent to       the rest is the newer's word
                                            texts and language
platform status       the status kept       the later time; same time:  the platform's latest word
                                            further stage, then name
refund (RefundFact)   the order             nothing: it moves returns   a refund is not a parcel's
                                            (pipeline)                  news
The order's status (order_status.derive_status), worked out afresh after every batch
platform cancelled    every parcel          the platform                only the platform ends an
or refunded                                                             order; carriers then don't
platform's other      the live parcels      the parcels, once one is    parcels know where things
statuses                                    live                        are
a parcel in trouble   the other parcels     trouble: exception, failed  it needs the customer; the
                                            try, returned, pickup, in   first in ATTENTION wins
                                            that order
parcels               each other            the least advanced live     "2 of 3 delivered"
                                            parcel
all parcels           items no parcel       shipped                     partly shipped, not
delivered             carries                                           delivered
all parcels           the platform's        completed                   the platform closed it
delivered             `completed`
A batch of facts (lifecycle.apply)
fulfillments          carrier reports in    fulfillments first          a report finds the parcel
                      the same batch                                    they create
carrier report        no parcel claims it   parked, applied when a      never lost, never guessed
                                            fulfillment names it
"""

from dataclasses import replace
from datetime import date, datetime

from ordertrack.facts import Customer, FulfillmentFact, OrderFact, TrackingFact
from ordertrack.lifecycle.relabelling import relabelled, replaces_tracking_number
from ordertrack.lifecycle.state import NEVER, OrderState, ShipmentState
from ordertrack.statuses import OrderStatus, ShipmentStatus, stage

_STAGED = {s for s in ShipmentStatus if s not in (ShipmentStatus.UNKNOWN, ShipmentStatus.CANCELLED)}


def _rank(status: ShipmentStatus) -> int:
    return stage(status) if status in _STAGED else -1


def _tracking_key(at: datetime | None, status: ShipmentStatus, raw: str | None, detail: str | None):
    """Facts compare by time; at the same instant the further status wins, then the raw code
    and detail decide, so two reports of one scan (the platform's and the carrier's) leave the
    same state whichever arrives first."""
    return (at or NEVER, _rank(status), status.value, raw or "", detail or "")


def _platform_key(at: datetime | None, status: OrderStatus) -> tuple:
    return (at or NEVER, stage(status), status.value)


def apply_tracking(shipment: ShipmentState, fact: TrackingFact) -> ShipmentState:
    if fact.est_delivery and (fact.occurred_at, fact.est_delivery) > (
        shipment.est_delivery_at or NEVER,
        shipment.est_delivery or date.min,
    ):
        shipment = replace(
            shipment, est_delivery=fact.est_delivery, est_delivery_at=fact.occurred_at
        )
    if fact.carrier and (not shipment.reported_carrier or fact.carrier < shipment.reported_carrier):
        # Filled from any report, applied or not; the least name, so arrival order is moot.
        shipment = replace(shipment, reported_carrier=fact.carrier)
    if fact.status is ShipmentStatus.DELIVERY_FAILED and fact.occurred_at not in (
        shipment.failed_attempts
    ):
        attempts = tuple(sorted((*shipment.failed_attempts, fact.occurred_at)))
        shipment = replace(shipment, failed_attempts=attempts)
    if fact.status in _STAGED and stage(fact.status) > shipment.furthest_stage:
        shipment = replace(shipment, furthest_stage=stage(fact.status))
    if fact.status in (None, ShipmentStatus.UNKNOWN):
        return shipment  # kept in the history with its raw code, never applied as a guess
    new = _tracking_key(fact.occurred_at, fact.status, fact.raw_status, fact.detail)
    known = _tracking_key(shipment.status_at, shipment.status, shipment.raw_status, shipment.detail)
    if new <= known:
        return shipment
    return replace(
        shipment,
        status=fact.status,
        status_at=fact.occurred_at,
        raw_status=fact.raw_status,
        detail=fact.detail,
    )


def apply_fulfillment(shipment: ShipmentState, fact: FulfillmentFact) -> ShipmentState:
    if shipment.fulfilled_at and fact.occurred_at < shipment.fulfilled_at:
        # An older report only fills what the newer ones left out.
        shipment = replace(
            shipment,
            fulfillment_id=shipment.fulfillment_id or fact.fulfillment_id,
            carrier=shipment.carrier or fact.carrier,
            tracking_number=shipment.tracking_number or fact.tracking_number,
            tracking_url=shipment.tracking_url or fact.tracking_url,
            items=shipment.items or fact.items,
            cancelled=shipment.cancelled or fact.cancelled,
        )
        return _labelled(shipment, fact)
    if replaces_tracking_number(shipment, fact):
        shipment = relabelled(shipment)
    shipment = replace(
        shipment,
        fulfillment_id=fact.fulfillment_id,
        carrier=fact.carrier or shipment.carrier,
        tracking_number=fact.tracking_number or shipment.tracking_number,
        tracking_url=fact.tracking_url or shipment.tracking_url,
        fulfilled_at=fact.occurred_at,
        items=fact.items or shipment.items,
        cancelled=shipment.cancelled or fact.cancelled,
    )
    return _labelled(shipment, fact)


def _labelled(shipment: ShipmentState, fact: FulfillmentFact) -> ShipmentState:
    """The earliest report of the parcel's current number dates the number's life here."""
    if not fact.tracking_number or fact.tracking_number != shipment.tracking_number:
        return shipment
    since = shipment.labelled_at
    return replace(
        shipment, labelled_at=min(since, fact.occurred_at) if since else fact.occurred_at
    )


def _merged(newer: Customer, older: Customer) -> Customer:
    """The newer report, but a payload that omits the customer's consent to texts or their
    language has not withdrawn them. (A removed phone number or address is removed.)"""
    return replace(
        newer,
        sms_consent=older.sms_consent if newer.sms_consent is None else newer.sms_consent,
        locale=newer.locale or older.locale,
    )


def apply_order(state: OrderState, fact: OrderFact) -> OrderState:
    if not state.info_at or fact.occurred_at >= state.info_at:
        state = replace(
            state,
            name=fact.name or state.name,
            customer=_merged(fact.customer, state.customer),
            items=fact.items or state.items,
            info_at=fact.occurred_at,
        )
    else:  # an older report only fills what the newer ones did not say
        state = replace(state, customer=_merged(state.customer, fact.customer))
    if fact.status and _platform_key(fact.occurred_at, fact.status) > _platform_key(
        state.platform_status_at, state.platform_status
    ):
        state = replace(state, platform_status=fact.status, platform_status_at=fact.occurred_at)
    listed_at = state.fulfillment_list_at
    if fact.fulfillment_ids is not None and (not listed_at or fact.occurred_at > listed_at):
        state = replace(
            state,
            fulfillment_list=tuple(sorted(fact.fulfillment_ids)),
            fulfillment_list_at=fact.occurred_at,
        )
    return state


def unlisted_removed(state: OrderState) -> OrderState:
    """A fulfillment missing from the platform's newest complete list, and reported no later
    than that list, was removed (WooCommerce deletes a tracking item to correct it). Worked
    out afresh from the final list each time, so arrival order does not matter."""
    listed, at = state.fulfillment_list, state.fulfillment_list_at
    if listed is None or at is None:
        return state
    shipments = tuple(
        replace(
            s,
            removed=bool(
                s.fulfillment_id
                and s.fulfillment_id not in listed
                and s.fulfilled_at
                and s.fulfilled_at <= at
            ),
        )
        for s in state.shipments
    )
    return replace(state, shipments=shipments)
