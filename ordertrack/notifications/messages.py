"""What a notification says: subject, headline and the parcels, rendered from templates."""

from dataclasses import dataclass
from functools import cache
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, select_autoescape

from ordertrack.facts import carrier_code
from ordertrack.lifecycle import OrderState, progress_summary
from ordertrack.notifications import policy

HEADLINES: dict[str, tuple[str, str]] = {
    # kind: (subject, headline)
    "shipped": ("Your order {order} has shipped", "Good news: your order is on its way."),
    "out_for_delivery": (
        "Your order {order} is out for delivery",
        "Your parcel is out for delivery today.",
    ),
    "delivered": ("Your order {order} was delivered", "Your order has been delivered."),
    "delivery_failed": (
        "Delivery attempt for order {order}",
        "The carrier tried to deliver your parcel but could not. They will try again or "
        "leave instructions.",
    ),
    "exception": (
        "A problem with the delivery of order {order}",
        "The carrier reports a problem with your parcel. We are keeping an eye on it.",
    ),
    "available_for_pickup": (
        "Your order {order} is ready for pickup",
        "Your parcel is waiting for you at a pickup point.",
    ),
    policy.TRACKING_CHANGED: (
        "New tracking number for order {order}",
        "Your parcel has a new tracking number. The one we sent before no longer shows "
        "its progress; please use the one below.",
    ),
}

#: Public tracking pages by carrier, for shipments whose platform gave no tracking URL.
CARRIER_LINKS = {
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("ordertrack.notifications", "templates"),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
    )


def tracking_link(carrier: str | None, number: str | None, url: str | None) -> str | None:
    if url:
        return url
    template = CARRIER_LINKS.get(carrier_code(carrier) or "")
    return template.format(number=quote(number)) if template and number else None


def render(kind: str, state: OrderState, shop_name: str) -> Rendered:
    subject, headline = HEADLINES[policy.base_kind(kind)]
    order_name = state.name or "(unnamed)"
    context = {
        "subject": subject.format(order=order_name),
        "headline": headline,
        "order_name": order_name,
        "summary": progress_summary(state),
        "shop_name": shop_name,
        "shipments": [
            {
                "carrier": s.carrier or s.reported_carrier,
                "tracking_number": s.tracking_number,
                "est_delivery": s.est_delivery.isoformat() if s.est_delivery else None,
                "link": tracking_link(
                    s.carrier or s.reported_carrier, s.tracking_number, s.tracking_url
                ),
            }
            for s in state.shipments
            if s.live
        ],
    }
    env = _templates()
    return Rendered(
        subject=context["subject"],
        text=env.get_template("email.txt").render(context),
        html=env.get_template("email.html").render(context),
    )
