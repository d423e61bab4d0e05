"""/unsubscribe/<token>: the signed link in every email. A GET only shows a button, because
mail scanners fetch links; the POST (the button, or a mail client's RFC 8058 one-click) is
what unsubscribes."""

from html import escape

from flask import Blueprint, Response, current_app

from ordertrack.notifications.links import read_unsubscribe_token, signing_key
from ordertrack.store import unsubscribes
from ordertrack.store.views import mask_email

bp = Blueprint("unsubscribe", __name__)

_PAGE = """<!doctype html><html lang="en"><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">
<h1>{title}</h1><p>{text}</p>{form}</body></html>"""


@bp.get("/unsubscribe/<token>")
def confirm(token: str):
    found = _read(token)
    if found is None:
        return _page("Link not recognised", "This unsubscribe link is not valid.", status=404)
    channel, recipient = found
    form = '<form method="post"><button type="submit">Unsubscribe</button></form>'
    text = f"Stop order updates by {escape(channel)} to {escape(mask_email(recipient))}?"
    return _page("Unsubscribe", text, form=form)


@bp.post("/unsubscribe/<token>")
def unsubscribe(token: str):
    found = _read(token)
    if found is None:
        return _page("Link not recognised", "This unsubscribe link is not valid.", status=404)
    edge = current_app.extensions["ordertrack"]
    with edge.sessions.begin() as session:
        unsubscribes.record(session, *found)
    return _page("Unsubscribed", "You will get no more order updates this way.")


def _read(token: str) -> tuple[str, str] | None:
    edge = current_app.extensions["ordertrack"]
    return read_unsubscribe_token(signing_key(edge.settings), token)


def _page(title: str, text: str, *, form: str = "", status: int = 200) -> Response:
    body = _PAGE.format(title=escape(title), text=text, form=form)
    return Response(body, status=status, mimetype="text/html")
