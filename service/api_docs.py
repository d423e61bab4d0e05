"""`GET /api/v1/openapi.json` and `GET /api/v1/docs`: the API's description, and the same as a
page our own server renders (no CDN, no scripts, no fonts from elsewhere). Neither needs the
token: they describe the API and hold no merchant's data, and a client needs the document
before it has a token to try."""

from flask import Blueprint, current_app, jsonify, render_template
from markupsafe import Markup, escape

from service.openapi import build_document

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1")

_CACHE = "ordertrack.openapi"
_PAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"


@bp.get("/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 document of /api/v1, generated from the marshmallow schemas."""
    return jsonify(_document())


@bp.get("/docs")
def reference_page():
    """Every path and method with its parameters, request body and answers, readable."""
    document = _document()
    page = render_template(
        "api/docs.html",
        doc=document,
        schemas=document.get("components", {}).get("schemas", {}),
        type_of=type_of,
    )
    return page, 200, {"Content-Security-Policy": _PAGE_POLICY}


def _document() -> dict:
    """Built once per app: the routes and schemas do not change while it runs."""
    extensions = current_app.extensions
    if _CACHE not in extensions:
        extensions[_CACHE] = build_document(current_app)
    return extensions[_CACHE]


def type_of(schema: dict | None) -> Markup:
    """A JSON schema in a few words, with a link to each named schema it uses."""
    if not schema:
        return Markup("any")
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    if "anyOf" in schema or "oneOf" in schema:
        return Markup(" or ").join(
            type_of(part) for part in schema.get("anyOf", schema.get("oneOf"))
        )
    kinds = schema.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    words = [_one_type(kind, schema) for kind in kinds]
    text = Markup(" or ").join(words)
    if "enum" in schema:
        text += Markup(": one of ") + escape(", ".join(str(v) for v in schema["enum"]))
    return text + _limits(schema)


def _one_type(kind: str, schema: dict) -> Markup:
    if kind == "array":
        return Markup("array of ") + type_of(schema.get("items"))
    if schema.get("format") and kind != "null":
        return escape(f"{kind} ({schema['format']})")
    return escape(kind)


def _limits(schema: dict) -> Markup:
    bounds = [
        f"{word} {schema[key]}"
        for key, word in (
            ("minimum", "at least"),
            ("maximum", "at most"),
            ("minLength", "length at least"),
            ("maxLength", "length at most"),
        )
        if key in schema
    ]
    return escape(f" ({', '.join(bounds)})") if bounds else Markup("")
