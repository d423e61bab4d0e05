"""What customers read: every kind in every language, by email (text and HTML) and SMS, with
the shop, order, items, carrier, tracking number, estimate and link; platform text escaped;
SMS within its length (issue 4, "Templates")."""

from dataclasses import replace
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordertrack.facts import Customer, LineItem
from ordertrack.lifecycle import OrderState, ShipmentState, progress_summary
from ordertrack.notifications import email, locales, messages, news_rules
from ordertrack.notifications.locales import choose_locale, placeholders
from ordertrack.notifications.messages import render, render_sms, sms_segments
from ordertrack.statuses import ShipmentStatus

S = ShipmentStatus
X = "\N{MULTIPLICATION SIGN}"  # between an item and its quantity
SHOP = "Analytical Shop"
MUG, TEA, SPOON = (
    LineItem("1", "Blue mug", 2),
    LineItem("2", "Green tea", 1),
    LineItem("3", "Spoon", 3),
)
UPS_NUMBER, USPS_NUMBER = "1Z999AA10123456784", "9400111899223100000001"
UPS_LINK = f"https://www.ups.com/track?tracknum={UPS_NUMBER}"
USPS_LINK = f"https://tools.usps.com/go/TrackConfirmAction?tLabels={USPS_NUMBER}"
WEDNESDAY_4_NOVEMBER = date(2026, 11, 4)
ESTIMATE = {"en": "Wednesday, 4 November", "es": "miércoles, 4 de noviembre"}

#: Every kind the policy can queue, as its base kind.
KINDS = sorted(
    {
        *news_rules.PARCEL_KINDS,
        *news_rules.ORDER_KINDS,
        news_rules.TRACKING_CHANGED,
        news_rules.DELAYED,
    }
)
#: The parcel status each kind's news is about.
NEWS = {
    "shipped": S.IN_TRANSIT,
    "out_for_delivery": S.OUT_FOR_DELIVERY,
    "delivered": S.DELIVERED,
    "delivery_failed": S.DELIVERY_FAILED,
    "exception": S.EXCEPTION,
    "available_for_pickup": S.AVAILABLE_FOR_PICKUP,
    "delivery_failed_again": S.DELIVERY_FAILED,
    "returned_to_sender": S.RETURNED,
    news_rules.TRACKING_CHANGED: S.IN_TRANSIT,
    news_rules.DELAYED: S.IN_TRANSIT,
    # The order's own news shows its parcels as they stand.
    "order_cancelled": S.IN_TRANSIT,
    "order_refunded": S.DELIVERED,
    "order_on_hold": S.IN_TRANSIT,
}
#: The failed attempt a "delivery_failed_again" in these tests is about.
ATTEMPT = 2
BOTH = [(kind, locale) for kind in KINDS for locale in locales.SUPPORTED]


def parcel(key="f:1", status=S.IN_TRANSIT, carrier="UPS", number=UPS_NUMBER, **fields):
    fields.setdefault("est_delivery", WEDNESDAY_4_NOVEMBER)
    return ShipmentState(key=key, carrier=carrier, tracking_number=number, status=status, **fields)


def order(*shipments, items=(MUG, TEA), name="#1042") -> OrderState:
    return OrderState(
        name=name, customer=Customer(name="Ada"), items=items, shipments=shipments or (parcel(),)
    )


def queued_kind(kind: str) -> str:
    """The kind as the outbox holds it: a tracking change carries its number's digest, a
    later failed attempt its number."""
    if kind == news_rules.DELIVERY_FAILED_AGAIN:
        return f"{kind}:{ATTEMPT}"
    return (
        news_rules.tracking_changed_kind(UPS_NUMBER)
        if kind == news_rules.TRACKING_CHANGED
        else kind
    )


# ---------------------------------------------------------------------------------------------
# Catalogs: nothing ships untranslated


def test_every_kind_the_policy_can_send_has_words_in_every_language():
    for locale in locales.SUPPORTED:
        words = locales.catalog(locale)
        for kind in [*KINDS, *sorted(news_rules.RETURN_KINDS)]:
            for part in ("subject", "headline", "sms"):
                assert words.raw(f"kinds.{kind}.{part}").strip(), (locale, kind, part)


@pytest.mark.parametrize("locale", locales.SUPPORTED)
def test_a_return_step_renders_as_an_email_and_a_text(locale):
    state = order()
    content = messages.render("return_approved:7", state, "Analytical Shop", locale)
    assert "#1042" in content.subject
    text = messages.render_sms("return_refunded:7", state, "Analytical Shop", locale)
    assert text.startswith("Analytical Shop: ") and "#1042" in text


def test_every_kind_the_policy_can_send_names_the_parcel_its_sms_links_to():
    assert set(messages.NEWS_STATUSES) == news_rules.PARCEL_KINDS


@pytest.mark.parametrize("locale", locales.SUPPORTED)
def test_every_catalog_has_the_same_strings_and_placeholders_as_english(locale):
    english, other = locales.catalog("en").strings(), locales.catalog(locale).strings()
    assert set(other) == set(english)
    for key, text in english.items():
        assert placeholders(other[key]) == placeholders(text), key


@pytest.mark.parametrize("locale", locales.SUPPORTED)
def test_every_parcel_status_has_a_name_in_every_language(locale):
    words = locales.catalog(locale)
    assert all(words.raw(f"shipment_status.{status.value}") for status in ShipmentStatus)


@pytest.mark.parametrize("locale", locales.SUPPORTED)
def test_the_sms_words_of_every_language_are_in_the_gsm7_alphabet(locale):
    """One non-GSM-7 character (an "á") would cut an SMS from 160 characters to 70."""
    strings = locales.catalog(locale).strings()
    sms = [text for key, text in strings.items() if key.endswith(".sms") or key == "sms.track"]
    assert len(sms) == len(KINDS) + len(news_rules.RETURN_KINDS) + 1
    unfilled = [text.replace("{", "").replace("}", "") for text in sms]
    assert all(messages._GSM7.issuperset(text) and sms_segments(text) == 1 for text in unfilled)


# ---------------------------------------------------------------------------------------------
# Email: every kind, both languages


@pytest.mark.parametrize(("kind", "locale"), BOTH)
def test_every_email_tells_shop_order_items_carrier_number_estimate_and_link(kind, locale):
    state = order(parcel(status=NEWS[kind]))
    words = locales.catalog(locale)
    email_ = render(queued_kind(kind), state, SHOP, locale)
    assert email_.locale == locale
    assert "#1042" in email_.subject
    assert email_.subject == words.text(f"kinds.{kind}.subject", order="#1042", attempt=ATTEMPT)
    for part in (email_.text, email_.html):
        assert words.raw(f"kinds.{kind}.headline").split()[1] in part
        for told in (
            SHOP,
            "#1042",
            f"Blue mug {X} 2",
            f"Green tea {X} 1",
            "UPS",
            UPS_NUMBER,
            UPS_LINK,
        ):
            assert told in part, (told, part)
        arrived = NEWS[kind] in (S.DELIVERED, S.RETURNED)
        assert (ESTIMATE[locale] in part) is not arrived, "an estimate is news until it arrives"
    assert f'href="{UPS_LINK}"' in email_.html
    assert f'<html lang="{locale}">' in email_.html


@pytest.mark.parametrize(("locale", "order_locale"), [("en", None), ("es", "es-MX")])
def test_an_email_is_written_in_the_language_of_the_order(locale, order_locale):
    email_ = render("out_for_delivery", order(), SHOP, order_locale)
    greeting = {"en": "Hi Ada,", "es": "Hola, Ada:"}[locale]
    assert email_.text.startswith(greeting)
    assert (
        email_.subject
        == {
            "en": "Your order #1042 is out for delivery",
            "es": "Tu pedido #1042 está en reparto",
        }[locale]
    )


def test_existing_callers_still_get_the_english_email():
    assert render("shipped", order(), SHOP) == render("shipped", order(), SHOP, "en")
    assert render("shipped", order(), SHOP).subject == "Your order #1042 has shipped"


def test_the_unsubscribe_link_is_in_the_text_and_the_html_when_given():
    link = "https://track.example/unsubscribe/abc?x=1&y=2"
    with_link = render("shipped", order(), SHOP, unsubscribe_url=link)
    assert f"Unsubscribe: {link}" in with_link.text
    assert 'href="https://track.example/unsubscribe/abc?x=1&amp;y=2"' in with_link.html
    spanish = render("shipped", order(), SHOP, "es", unsubscribe_url=link)
    assert f"Dejar de recibir estos correos: {link}" in spanish.text
    without = render("shipped", order(), SHOP)
    assert "Unsubscribe" not in without.text and "Unsubscribe" not in without.html


def test_each_parcel_lists_its_own_items_and_the_email_what_is_still_to_ship():
    state = order(
        parcel(items=(MUG,)),
        parcel("f:2", S.DELIVERED, "USPS", USPS_NUMBER, items=(TEA,)),
        items=(MUG, TEA, SPOON),
    )
    text = render("shipped", state, SHOP).text
    assert "Parcel 1 of 2 · In transit" in text and "Parcel 2 of 2 · Delivered" in text
    first, second = text.split("Parcel 2 of 2")
    assert f"Items: Blue mug {X} 2" in first and "Green tea" not in first
    assert f"Items: Green tea {X} 1" in second
    assert f"Still to ship: Spoon {X} 3" in text
    assert "1 of 2 delivered, 3 items not shipped yet" in text
    spanish = render("shipped", state, SHOP, "es").text
    assert f"Pendiente de envío: Spoon {X} 3" in spanish
    assert "1 de 2 paquetes entregados, 3 artículos aún sin enviar" in spanish


def test_the_order_items_are_listed_when_a_parcel_does_not_say_what_it_holds():
    text = render("shipped", order(parcel(), parcel("f:2", items=(MUG,))), SHOP).text
    assert f"In your order: Blue mug {X} 2, Green tea {X} 1" in text


def test_cancelled_and_removed_parcels_are_not_shown():
    state = order(
        parcel(),
        parcel("f:2", number="1ZCANCELLED", cancelled=True),
        parcel("f:3", number="1ZREMOVED", removed=True),
        parcel("f:4", S.CANCELLED, number="1ZVOIDED"),
    )
    email_ = render("shipped", state, SHOP)
    assert "CANCELLED" not in email_.text and "REMOVED" not in email_.html
    assert "VOIDED" not in email_.text
    assert "Your parcel · In transit" in email_.text


def test_a_new_tracking_number_is_marked_on_its_parcel_and_linked_in_the_sms():
    state = order(parcel(), parcel("f:2", carrier="usps", number=USPS_NUMBER))
    kind = news_rules.tracking_changed_kind(USPS_NUMBER)
    text = render(kind, state, SHOP).text
    assert f"{USPS_NUMBER} (new)" in text and f"{UPS_NUMBER} (new)" not in text
    assert f"{USPS_NUMBER} (nuevo)" in render(kind, state, SHOP, "es").text
    assert render_sms(kind, state, SHOP).endswith(f"Track: {USPS_LINK}")


def test_known_carriers_are_spelled_as_customers_know_them():
    text = render("shipped", order(parcel(carrier="fedex", number="123456789012")), SHOP).text
    assert "Carrier: FedEx" in text


def test_a_parcel_without_a_tracking_number_says_so_in_each_language():
    state = order(parcel(number=None, carrier="Local courier"))
    assert "Tracking number: not available yet" in render("shipped", state, SHOP).text
    assert "Número de seguimiento: aún no disponible" in render("shipped", state, SHOP, "es").text


# ---------------------------------------------------------------------------------------------
# Platform text is data, never markup or headers


def test_item_titles_and_names_from_the_platform_are_escaped_in_html():
    script = "<script>alert(1)</script>"
    state = replace(
        order(parcel(items=(LineItem("9", script, 1),))),
        name='<b onmouseover="x">#1</b>',
        customer=Customer(name="<img src=x>"),
    )
    email_ = render("shipped", state, "Tom & Jerry's <Shop>")
    assert "<script>" not in email_.html and "&lt;script&gt;alert(1)&lt;/script&gt;" in email_.html
    assert "<b " not in email_.html and "<img" not in email_.html
    assert "Tom &amp; Jerry&#39;s &lt;Shop&gt;" in email_.html
    assert f"{script} {X} 1" in email_.text, "the text part is plain text, shown as written"


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.cookie)",
        "data:text/html,<script>alert(1)</script>",
        "https://evil.example/x\nBcc: victim@example.com",
        "https://evil.example/a b",
    ],
)
def test_a_platform_tracking_url_that_is_not_a_plain_web_address_is_not_linked(url):
    state = order(parcel(tracking_url=url))
    email_, sms = render("shipped", state, SHOP), render_sms("shipped", state, SHOP)
    assert "evil" not in email_.html + email_.text + sms
    assert "javascript" not in email_.html + email_.text and "data:" not in email_.html
    assert f'href="{UPS_LINK}"' in email_.html, "the carrier's own page instead"
    assert sms.endswith(UPS_LINK)


def test_a_line_break_in_a_platform_name_reaches_neither_the_subject_nor_the_sms():
    state = replace(order(), name="#1042\r\nBcc: victim@example.com")
    email_ = render("shipped", state, "Analytical\nShop")
    assert email_.subject == "Your order #1042 Bcc: victim@example.com has shipped"
    config = email.SmtpConfig(host="localhost", port=25, sender="shop@example.com")
    built = email.build_message(config, "ada@example.com", "<1@example.com>", email_)
    assert built["Bcc"] is None
    assert "\n" not in render_sms("shipped", state, "Analytical\nShop")


# ---------------------------------------------------------------------------------------------
# SMS


@pytest.mark.parametrize(("kind", "locale"), BOTH)
def test_every_sms_is_one_segment_with_shop_first_then_order_news_and_link(kind, locale):
    sms = render_sms(queued_kind(kind), order(parcel(status=NEWS[kind])), SHOP, locale)
    words = locales.catalog(locale)
    assert sms == (
        f"{SHOP}: {words.text(f'kinds.{kind}.sms', order='#1042', attempt=ATTEMPT)} "
        f"{words.text('sms.track', link=UPS_LINK)}"
    )
    assert sms_segments(sms) == 1 and len(sms) <= messages.SMS_TARGET_CHARS
    assert "<" not in sms


def test_the_sms_reads_as_the_issue_describes():
    sms = render_sms("out_for_delivery", order(parcel(status=S.OUT_FOR_DELIVERY)), SHOP)
    assert sms == f"{SHOP}: your order #1042 is out for delivery today. Track: {UPS_LINK}"
    spanish = render_sms("out_for_delivery", order(parcel(status=S.OUT_FOR_DELIVERY)), SHOP, "es")
    assert spanish == f"{SHOP}: tu pedido #1042 ha salido hoy a reparto. Seguimiento: {UPS_LINK}"


def test_the_sms_links_the_parcel_its_news_is_about():
    state = order(parcel(), parcel("f:2", S.OUT_FOR_DELIVERY, "USPS", USPS_NUMBER))
    assert render_sms("out_for_delivery", state, SHOP).endswith(USPS_LINK)
    assert render_sms("shipped", state, SHOP).endswith(UPS_LINK)


def test_the_sms_tells_the_progress_only_while_it_fits_one_segment():
    state = order(parcel(), parcel("f:2", S.DELIVERED, "USPS", USPS_NUMBER))
    assert "(1 of 2 delivered) Track:" in render_sms("shipped", state, SHOP)
    long_link = "https://track.example/" + "x" * 80
    sms = render_sms("shipped", state, SHOP, tracking_url_for=lambda s: long_link)
    assert "delivered" not in sms and sms.endswith(long_link)


def test_a_link_too_long_for_two_segments_is_left_out_not_cut():
    sms = render_sms("shipped", order(), SHOP, tracking_url_for=lambda s: "https://x/" + "y" * 400)
    assert sms == f"{SHOP}: your order #1042 is on its way."


@settings(max_examples=200, deadline=None)
@given(shop=st.text(max_size=300), name=st.text(max_size=300), link=st.text(max_size=400))
def test_an_sms_never_exceeds_320_characters_whatever_the_platform_sends(shop, name, link):
    state = replace(order(), name=name)
    sms = render_sms("delivery_failed", state, shop, tracking_url_for=lambda s: link or None)
    assert len(sms) <= messages.SMS_MAX_CHARS
    assert "\n" not in sms and "\r" not in sms


def test_a_long_shop_or_order_name_is_clipped_so_the_link_still_fits():
    state = replace(order(), name="#" + "9" * 60)
    sms = render_sms("shipped", state, "A Very Long Shop Name " * 10)
    assert sms.endswith(f"Track: {UPS_LINK}") and len(sms) <= messages.SMS_MAX_CHARS
    assert sms.startswith("A Very Long Shop Name A Very Long Sho...: ")


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("€" * 80, 1),
        ("€" * 81, 2),
        ("á" * 70, 1),
        ("á" * 71, 2),
        ("ñ¿¡é" * 40, 1),
    ],
)
def test_sms_segments_count_gsm7_and_ucs2_as_carriers_do(text, segments):
    assert sms_segments(text) == segments


# ---------------------------------------------------------------------------------------------
# The caller picks the link


def test_the_caller_chooses_each_parcels_tracking_link():
    state = order(parcel(), parcel("f:2", carrier="USPS", number=USPS_NUMBER))

    def page(shipment: ShipmentState) -> str:
        return f"https://track.example/t/{shipment.key}"

    email_ = render("shipped", state, SHOP, tracking_url_for=page)
    assert "https://track.example/t/f:1" in email_.text
    assert 'href="https://track.example/t/f:2"' in email_.html
    assert UPS_LINK not in email_.text + email_.html
    assert render_sms("shipped", state, SHOP, tracking_url_for=page).endswith("/t/f:1")


def test_a_parcel_with_no_link_anywhere_is_shown_without_one():
    state = order(parcel(carrier="Local courier", number="LC-1"))
    assert "Track this parcel" not in render("shipped", state, SHOP).text
    assert render_sms("shipped", state, SHOP) == f"{SHOP}: your order #1042 is on its way."


# ---------------------------------------------------------------------------------------------
# Locale and dates


@pytest.mark.parametrize(
    ("order_locale", "chosen"),
    [
        ("es", "es"),
        ("es-MX", "es"),
        ("es_ES", "es"),
        ("ES", "es"),
        (" es-419 ", "es"),
        ("es_ES.UTF-8", "es"),
        ("en", "en"),
        ("en-GB", "en"),
        ("de-DE", "en"),
        ("et", "en"),
        ("eo", "en"),
        ("", "en"),
        (None, "en"),
        ("-es", "en"),
    ],
)
def test_the_order_locale_picks_a_supported_language_or_english(order_locale, chosen):
    assert choose_locale(order_locale) == chosen


def test_an_unsupported_locale_gets_the_english_email_and_sms():
    assert render("shipped", order(), SHOP, "de-DE") == render("shipped", order(), SHOP, "en")
    assert render_sms("shipped", order(), SHOP, "fr") == render_sms("shipped", order(), SHOP)


@pytest.mark.parametrize(
    ("day", "en", "es"),
    [
        (date(2026, 11, 4), "Wednesday, 4 November", "miércoles, 4 de noviembre"),
        (date(2027, 1, 1), "Friday, 1 January", "viernes, 1 de enero"),
        (date(2026, 8, 30), "Sunday, 30 August", "domingo, 30 de agosto"),
    ],
)
def test_an_estimate_is_written_as_people_write_dates_in_each_language(day, en, es):
    assert locales.catalog("en").date(day) == en
    assert locales.catalog("es").date(day) == es


# ---------------------------------------------------------------------------------------------
# Progress


@st.composite
def orders(draw) -> OrderState:
    items = tuple(LineItem(str(n), f"item {n}", draw(st.integers(1, 3))) for n in range(3))
    shipments = tuple(
        parcel(
            f"f:{n}",
            draw(st.sampled_from([s for s in S if s is not S.UNKNOWN])),
            cancelled=draw(st.booleans()),
            items=tuple(draw(st.lists(st.sampled_from(items), max_size=3, unique=True))),
        )
        for n in range(draw(st.integers(0, 4)))
    )
    return order(*shipments, items=items) if shipments else OrderState(items=items)


@settings(max_examples=200, deadline=None)
@given(orders())
def test_the_english_progress_in_messages_is_the_one_the_api_shows(state):
    assert messages.localized_progress(state, "en") == progress_summary(state)


@pytest.mark.parametrize(
    ("shipments", "items", "spanish"),
    [
        ((parcel(), parcel("f:2", S.DELIVERED)), (), "1 de 2 paquetes entregados"),
        (
            (parcel(items=(MUG,)),),
            (MUG, TEA),
            "0 de 1 paquete entregado, 1 artículo aún sin enviar",
        ),
        (
            (parcel(items=(TEA,)),),
            (MUG, TEA),
            "0 de 1 paquete entregado, 2 artículos aún sin enviar",
        ),
        ((parcel(),), (MUG,), None),
    ],
)
def test_the_progress_is_told_in_spanish_from_the_same_numbers(shipments, items, spanish):
    assert messages.localized_progress(order(*shipments, items=items), "es-ES") == spanish


@pytest.mark.parametrize("locale", locales.SUPPORTED)
@pytest.mark.parametrize("kind", sorted(news_rules.PARCEL_KINDS))
def test_a_parcels_text_names_the_parcel_and_never_takes_more_than_two_segments(kind, locale):
    two = order(parcel(), parcel("f:2", S.DELIVERY_FAILED, "USPS", USPS_NUMBER))
    shop = "Tienda Ñandú de Artículos Analíticos y Mecánicos"  # outside GSM-7: UCS-2
    sms = render_sms(queued_kind(kind), two, shop, locale, parcel="f:2#00000000")
    assert sms_segments(sms) <= 2 and len(sms) <= messages.SMS_MAX_CHARS
    assert sms.startswith("Tienda Ñandú de Artículos")
    english = render_sms(queued_kind(kind), two, SHOP, parcel="f:2#00000000")
    assert "(parcel 2 of 2)" in english and english.endswith(USPS_LINK)
