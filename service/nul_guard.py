"""No NUL character reaches a query. PostgreSQL text cannot hold one and psycopg refuses it as
a parameter, so a NUL typed in a form field or put in an address ended in a 500 wherever it met
the database (the /track look-up, the console's order page). One check before every view,
rather than one in each: a path value holding a NUL names nothing (404); a query parameter or
a form field holding one, in its name or its value, is bad input (400, naming the field).

Each page answers in its own words (the blueprints' handlers for `NulCharacter`); the rest
get the JSON error. Webhook bodies are not parsed here: a signature covers their raw bytes,
and the providers' strict JSON reader refuses `\\u0000` itself. JSON bodies of the API are
checked by the API's own validation (it names the key)."""

from flask import Flask, request
from werkzeug.datastructures import MultiDict

from ordertrack.errors import NulCharacter, NulInPath

NUL = "\x00"
#: Blueprints whose bodies are read raw and verified byte for byte: their forms are not read.
RAW_BODIES = frozenset({"webhooks"})


def init_app(app: Flask) -> None:
    app.before_request(refuse_nul)


def refuse_nul() -> None:
    """Raise NulInPath or NulCharacter; before any view, so before any query."""
    if any(NUL in str(value) for value in (request.view_args or {}).values()):
        raise NulInPath("no such resource")
    _refuse_in_fields(request.args)
    if request.blueprint not in RAW_BODIES:
        _refuse_in_fields(request.form)


def _refuse_in_fields(fields: MultiDict) -> None:
    for name, value in fields.items(multi=True):
        if NUL in name:
            raise NulCharacter("a field name must not contain a NUL character")
        if NUL in value:
            raise NulCharacter(f"{name} must not contain a NUL character")
