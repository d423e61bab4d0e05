"""/unsubscribe/<token>: the signed link in every email. A GET only shows a button, because
mail scanners fetch links; the POST (the button, or a mail client's RFC 8058 one-click) is
what unsubscribes. The token names the message; its recipient is looked up here."""

from html import escape

from flask import Blueprint, Response, current_app

from ordertrack.errors import NulCharacter
from ordertrack.masking import mask_recipient
from ordertrack.notifications.links import read_unsubscribe_token
from ordertrack.store import unsubscribes
from ordertrack.store.models import Outbox

bp = Blueprint("unsubscribe", __name__)

_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""
_UNKNOWN = ("Link not recognised", "This unsubscribe link is not valid.")


@bp.errorhandler(NulCharacter)
def _nul(exc: NulCharacter) -> Response:
    """service.nul_guard refused it: to the reader, one more link that is not valid."""
    return _page(*_UNKNOWN, status=404)


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    edge = current_app.extensions["ordertrack"]
    with edge.sessions() as session:
        message = _message(session, token)
        if message is None:
            return _page(*_UNKNOWN, status=404)
        who = mask_recipient(message.channel, message.recipient)
        channel = message.channel
    form = '<form method="post"><button type="submit">Unsubscribe</button></form>'
    text = f"Stop order updates by {escape(channel)} to {escape(who)}?"
    return _page("Unsubscribe", text, form=form)


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    edge = current_app.extensions["ordertrack"]
    with edge.durable_sessions.begin() as session:
        message = _message(session, token)
        if message is None:
            return _page(*_UNKNOWN, status=404)
        unsubscribes.record(session, message.channel, message.recipient)
    return _page("Unsubscribed", "You will get no more order updates this way.")


def _message(session, token: str) -> Outbox | None:
    outbox_id = read_unsubscribe_token(current_app.extensions["ordertrack"].link_keys, token)
    return session.get(Outbox, outbox_id) if outbox_id is not None else None


def _page(title: str, text: str, *, form: str = "", status: int = 200) -> Response:
    body = _PAGE.format(title=escape(title), text=text, form=form)
    return Response(body, status=status, mimetype="text/html")
