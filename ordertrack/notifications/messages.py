"""What a notification says, in the customer's language: an email (subject, text and HTML)
and an SMS, from the order's state.

The words come from the language's catalog (locales.py); the layout from the templates. Every
string from the platform (shop, order and item names) is text: made one line here, escaped by
the HTML template.
"""

import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from math import ceil
from urllib.parse import quote, urlsplit

from jinja2 import Environment, PackageLoader, select_autoescape

from ordertrack.facts import LineItem, carrier_code
from ordertrack.lanes import Learned
from ordertrack.lifecycle.order_status import items_not_shipped
from ordertrack.lifecycle.state import OrderState, ShipmentState
from ordertrack.notifications import locales, news_rules
from ordertrack.statuses import ShipmentStatus

#: Public tracking pages by carrier, for shipments whose platform gave no tracking URL.
CARRIER_LINKS = {
    "usps": "https://tools.usps.com/go/TrackConfirmAction?tLabels={number}",
    "ups": "https://www.ups.com/track?tracknum={number}",
    "fedex": "https://www.fedex.com/fedextrack/?trknbr={number}",
    "dhl": "https://www.dhl.com/global-en/home/tracking.html?tracking-id={number}",
}
#: How customers spell the carriers whose codes we know ("ups" from one source, "UPS" from
#: another); any other name is shown as the platform gave it.
CARRIER_NAMES = {"usps": "USPS", "ups": "UPS", "fedex": "FedEx", "dhl": "DHL"}

#: The parcel an SMS links to is one whose status is the news.
NEWS_STATUSES: dict[str, tuple[ShipmentStatus, ...]] = {
    "shipped": (ShipmentStatus.LABEL_CREATED, ShipmentStatus.IN_TRANSIT),
    "out_for_delivery": (ShipmentStatus.OUT_FOR_DELIVERY,),
    "delivered": (ShipmentStatus.DELIVERED,),
    "delivery_failed": (ShipmentStatus.DELIVERY_FAILED,),
    "exception": (ShipmentStatus.EXCEPTION,),
    "available_for_pickup": (ShipmentStatus.AVAILABLE_FOR_PICKUP,),
    "returned_to_sender": (ShipmentStatus.RETURNED,),
    "delivery_failed_again": (ShipmentStatus.DELIVERY_FAILED,),
}
#: An estimate is no news for a parcel whose journey is over.
_ARRIVED = (ShipmentStatus.DELIVERED, ShipmentStatus.RETURNED, ShipmentStatus.CANCELLED)

#: An SMS aims at one segment and never takes more than two.
SMS_TARGET_CHARS = 160
SMS_MAX_CHARS = 320
#: Platform names are clipped in an SMS so that the news and the link always fit.
SMS_SHOP_CHARS, SMS_ORDER_CHARS = 40, 24

TrackingUrlFor = Callable[[ShipmentState], str | None]


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str
    #: The language it is written in, for a Content-Language header.
    locale: str = locales.DEFAULT


@dataclass(frozen=True)
class Parcel:
    """One live shipment as the email shows it: labelled details and a link."""

    title: str
    status: str
    details: list[tuple[str, str]]
    link: str | None


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("ordertrack.notifications", "templates"),
        autoescape=select_autoescape(["html"]),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def tracking_link(carrier: str | None, number: str | None, url: str | None) -> str | None:
    """The platform's tracking page when it is a web address, else the carrier's own."""
    if url and _is_web_address(url.strip()):
        return url.strip()
    template = CARRIER_LINKS.get(carrier_code(carrier) or "")
    return template.format(number=quote(number)) if template and number else None


def _is_web_address(url: str) -> bool:
    """http(s) and nothing that would break a line or hide a script: the platform's URL is
    put in an href and an SMS as it is."""
    printable = url.isprintable() and not any(c.isspace() for c in url)
    return printable and urlsplit(url).scheme.lower() in ("http", "https")


def default_tracking_url(shipment: ShipmentState) -> str | None:
    carrier = shipment.carrier or shipment.reported_carrier
    return tracking_link(carrier, shipment.tracking_number, shipment.tracking_url)


def render(
    kind: str,
    state: OrderState,
    shop_name: str,
    locale: str | None = None,
    *,
    parcel: str = "",
    unsubscribe_url: str | None = None,
    tracking_url_for: TrackingUrlFor | None = None,
    page_url: str | None = None,
    learned: Mapping[str, Learned] | None = None,
    today: date | None = None,
) -> Rendered:
    """The email for `kind` in the language of `locale` (the order's, as the platform gave
    it); `tracking_url_for` picks each parcel's link. A parcel's news (`parcel` is its key)
    shows that parcel, says which of the order's parcels it is, and how far the order is.
    `learned`: estimates from past deliveries by shipment key, shown where the carrier gave
    no date or its date has passed (store/estimates.py); `today` (the shop's): a date before
    it is shown as passed, or not at all, never as expected."""
    words = locales.catalog(locales.choose_locale(locale))
    order = _one_line(state.name) or words.raw("email.unnamed")
    about = _about(state, parcel)
    values = {"order": order, "attempt": _attempt(kind)}
    subject = words.text(f"kinds.{news_rules.base_kind(kind)}.subject", **values)
    if about and about.named:
        subject = words.text(about.key("email.subject_parcel"), subject=subject, **about.numbers)
    url_for = tracking_url_for or default_tracking_url
    name = _one_line(state.customer.name)
    context = {
        "lang": words.locale,
        "subject": subject,
        "greeting": words.text("email.greeting", name=name)
        if name
        else words.raw("email.greeting_anonymous"),
        "headline": words.text(f"kinds.{news_rules.base_kind(kind)}.headline", **values),
        "order_line": words.text("email.order", order=order),
        "progress": _progress(kind, state, about, words),
        "parcels": _parcels(kind, state, words, url_for, about, learned or {}, today),
        "order_lines": _order_lines(state, words),
        "track": words.raw("email.track"),
        "shop_name": _one_line(shop_name),
        "footer": words.text("email.footer", shop=_one_line(shop_name)),
        "unsubscribe": words.raw("email.unsubscribe"),
        "unsubscribe_url": unsubscribe_url,
        #: The order's own tracking page (PUBLIC_BASE_URL/t/<token>).
        "page": words.raw("email.page"),
        "page_url": page_url,
    }
    env = _templates()
    return Rendered(
        subject=subject,
        text=env.get_template("email.txt").render(context),
        html=env.get_template("email.html").render(context),
        locale=words.locale,
    )


def render_sms(
    kind: str,
    state: OrderState,
    shop_name: str,
    locale: str | None = None,
    *,
    parcel: str = "",
    tracking_url_for: TrackingUrlFor | None = None,
) -> str:
    """One short text, shop name first: "Shop: your order #1042 is out for delivery today.
    Track: https://...". The progress goes in only if the text still fits one segment; a link
    too long for two segments is left out rather than cut."""
    words = locales.catalog(locales.choose_locale(locale))
    order = _clip(_one_line(state.name) or words.raw("email.unnamed"), SMS_ORDER_CHARS)
    about = _about(state, parcel)
    if about and about.named:
        order = words.text(about.key("sms.parcel"), order=order, **about.numbers)
    head = f"{_clip(_one_line(shop_name), SMS_SHOP_CHARS)}: "
    head += words.text(
        f"kinds.{news_rules.base_kind(kind)}.sms", order=order, attempt=_attempt(kind)
    )
    url_for = tracking_url_for or default_tracking_url
    link = _one_line(url_for(about.shipment) if about else _sms_link(kind, state, url_for))
    track = f" {words.text('sms.track', link=link)}" if link else ""
    progress = _progress(kind, state, about, words)
    extra = f" {words.text('sms.progress', progress=progress)}" if progress else ""
    if sms_segments(head + extra + track) == 1:
        return head + extra + track
    for text in (head + track, head):
        if sms_segments(text) <= 2 and len(text) <= SMS_MAX_CHARS:
            return text
    while head and (sms_segments(head) > 2 or len(head) > SMS_MAX_CHARS):
        head = head[:-1]
    return head


def localized_progress(state: OrderState, locale: str | None = None) -> str | None:
    """lifecycle.wording.progress_summary in the customer's language, from the same numbers:
    '1 of 2 delivered' while an order's parcels arrive apart."""
    words = locales.catalog(locales.choose_locale(locale))
    live = _live(state)
    waiting = items_not_shipped(state)
    if len(live) < 2 and not waiting:
        return None
    delivered = sum(s.status is ShipmentStatus.DELIVERED for s in live)
    parts = [words.plural("progress.delivered", len(live), delivered=delivered)]
    if waiting:
        parts.append(words.plural("progress.not_shipped", waiting))
    return words.raw("progress.separator").join(parts)


def _live(state: OrderState) -> list[ShipmentState]:
    return [s for s in state.shipments if s.live]


def _parcels(
    kind: str,
    state: OrderState,
    words: locales.Catalog,
    url_for: TrackingUrlFor,
    about,
    learned: Mapping[str, Learned],
    today: date | None = None,
) -> list[Parcel]:
    if about:
        title = (
            words.text("email.parcel", **about.numbers)
            if about.count > 1
            else words.raw("email.parcel_single")
        )
        return [_parcel(kind, about.shipment, title, words, url_for, learned, today)]
    live = _live(state)
    return [
        Parcel(
            title=words.text("email.parcel", number=n, count=len(live))
            if len(live) > 1
            else words.raw("email.parcel_single"),
            status=words.raw(f"shipment_status.{s.status.value}"),
            details=_details(s, words, _announces_number(kind, s), learned.get(s.key), today),
            link=url_for(s),
        )
        for n, s in enumerate(live, start=1)
    ]


def _parcel(
    kind: str, s: ShipmentState, title: str, words, url_for: TrackingUrlFor, learned, today=None
) -> Parcel:
    return Parcel(
        title=title,
        status=words.raw(f"shipment_status.{s.status.value}"),
        details=_details(s, words, _announces_number(kind, s), learned.get(s.key), today),
        link=url_for(s),
    )


@dataclass(frozen=True)
class About:
    """The parcel a parcel's news is about, and its place among the order's parcels."""

    shipment: ShipmentState
    number: int
    count: int
    #: Some items are not in any parcel yet: more parcels will follow.
    more: bool = False

    @property
    def numbers(self) -> dict[str, int]:
        return {"number": self.number, "count": self.count}

    @property
    def named(self) -> bool:
        """Whether the message must say which parcel it is about: the order has others."""
        return self.count > 1 or self.more

    def key(self, key: str) -> str:
        """The key that reads "(parcel 2 of 3)", or "(parcel 1, more to follow)" while items
        wait to ship."""
        return f"{key}_more" if self.more else key


def _about(state: OrderState, parcel: str) -> About | None:
    """Parcels are numbered in the order they were labelled (then by key), so "parcel 2 of 2"
    means the same whichever webhook arrived first."""
    shipment = state.shipment(news_rules.parcel_key(parcel)) if parcel else None
    if shipment is None:
        return None
    ordered = _in_label_order(_live(state) or [shipment])
    number = ordered.index(shipment) + 1 if shipment in ordered else len(ordered) + 1
    return About(shipment, number, max(len(ordered), number), items_not_shipped(state) > 0)


def _in_label_order(shipments: list[ShipmentState]) -> list[ShipmentState]:
    never = datetime.max.replace(tzinfo=UTC)
    return sorted(shipments, key=lambda s: (s.labelled_at or s.fulfilled_at or never, s.key))


def _attempt(kind: str) -> int:
    """A failed attempt's number, carried by its kind ("delivery_failed_again:3"); 1 else."""
    suffix = kind.partition(":")[2]
    return int(suffix) if news_rules.base_kind(kind) == news_rules.DELIVERY_FAILED_AGAIN else 1


def _progress(kind: str, state: OrderState, about: About | None, words) -> str | None:
    """How far the order is ("1 of 2 delivered"), and, when the news is the last of several
    parcels leaving, that it is the last one."""
    progress = localized_progress(state, words.locale)
    last = (
        about is not None
        and about.count > 1
        and about.number == about.count
        and news_rules.base_kind(kind) == "shipped"
        and not items_not_shipped(state)
    )
    if not last:
        return progress
    note = words.raw("progress.last_parcel")
    return f"{progress}{words.raw('progress.separator')}{note}" if progress else note


def _details(
    s: ShipmentState,
    words: locales.Catalog,
    renumbered: bool,
    learned: Learned | None = None,
    today: date | None = None,
) -> list[tuple[str, str]]:
    """Carrier, number, the estimate and items. The estimate is the carrier's; once that
    has passed it is said so, and one learned from past deliveries (labelled so the customer
    knows it is ours, not the carrier's) is the new one, if its last day is still ahead."""
    carrier = s.carrier or s.reported_carrier
    number = _one_line(s.tracking_number) or words.raw("email.no_tracking_number")
    if renumbered:
        number += f" ({words.raw('email.new_tracking_number')})"
    details = [(words.raw("email.carrier"), _carrier_name(carrier))] if carrier else []
    details.append((words.raw("email.tracking_number"), number))
    if s.status not in _ARRIVED:
        details += _estimates(s, words, learned, today)
    if s.items:
        details.append((words.raw("email.items"), _items(s.items, words)))
    return details


def _estimates(
    s: ShipmentState, words: locales.Catalog, learned: Learned | None, today: date | None
) -> list[tuple[str, str]]:
    passed = today is not None and s.est_delivery is not None and s.est_delivery < today
    if s.est_delivery and not passed:
        return [(words.raw("email.estimate"), words.date(s.est_delivery))]
    shown = [(words.raw("email.estimate_passed"), words.date(s.est_delivery))] if passed else []
    if learned is None or (today is not None and learned.last < today):
        return shown
    when = (
        words.date(learned.first)
        if learned.first == learned.last
        else words.text(
            "email.estimate_range", first=words.date(learned.first), last=words.date(learned.last)
        )
    )
    return [*shown, (words.raw("email.estimate_learned"), when)]


def _order_lines(state: OrderState, words: locales.Catalog) -> list[tuple[str, str]]:
    """The order's items when some parcel does not say what it holds; else what is still to
    ship, since each parcel lists its own."""
    live = _live(state)
    if not live or not all(s.items for s in live):
        return [(words.raw("email.order_items"), _items(state.items, words))] if state.items else []
    shipped = Counter()
    for shipment in live:
        for item in shipment.items:
            shipped[item.external_id] += item.quantity
    waiting = [
        LineItem(i.external_id, i.title, i.quantity - shipped[i.external_id])
        for i in state.items
        if i.quantity > shipped[i.external_id]
    ]
    return [(words.raw("email.not_shipped"), _items(waiting, words))] if waiting else []


def _items(items: Iterable[LineItem], words: locales.Catalog) -> str:
    return ", ".join(
        words.text("email.item", title=_one_line(i.title), quantity=i.quantity) for i in items
    )


def _announces_number(kind: str, shipment: ShipmentState) -> bool:
    """Whether `kind` is the news of this parcel's new tracking number (the kind carries a
    digest of it)."""
    number = shipment.tracking_number
    return bool(number) and kind == news_rules.tracking_changed_kind(number)


def _sms_link(kind: str, state: OrderState, url_for: TrackingUrlFor) -> str | None:
    """The link of the parcel the news is about, else of the first parcel that has one."""
    statuses = NEWS_STATUSES.get(news_rules.base_kind(kind), ())
    live = _live(state)
    about = [s for s in live if s.status in statuses or _announces_number(kind, s)]
    return next((link for s in about + live if (link := url_for(s))), None)


def _carrier_name(carrier: str) -> str:
    return CARRIER_NAMES.get(carrier_code(carrier) or "", _one_line(carrier))


def _one_line(text: str | None) -> str:
    """Platform text on one line, without control characters: a newline in an order name
    must not reach a Subject header or split an SMS."""
    printable = "".join(c if unicodedata.category(c) != "Cc" else " " for c in text or "")
    return " ".join(printable.split())


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3].rstrip() + "..."


#: GSM 03.38: the basic alphabet (one unit each) and its extension (two units each).
_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENSION = set("^{}\\[~]|€\f")


def sms_segments(text: str) -> int:
    """How many SMS a text takes: 160 GSM-7 units in one (153 each when split), or 70 UCS-2
    ones (67) as soon as one character is outside GSM-7."""
    if all(c in _GSM7 or c in _GSM7_EXTENSION for c in text):
        units = len(text) + sum(c in _GSM7_EXTENSION for c in text)
        single, part = SMS_TARGET_CHARS, 153
    else:
        units, single, part = len(text.encode("utf-16-le")) // 2, 70, 67
    return 1 if units <= single else ceil(units / part)
