"""One JSON error shape for every 4xx/5xx, and the one place errors become status codes."""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ordertrack.errors import OrdertrackError

log = logging.getLogger(__name__)


def error_response(status: int, message: str, details: object = None):
    body: dict[str, object] = {"error": message, "status": status}
    if details is not None:
        body["details"] = details
    return jsonify(body), status


def init_app(app: Flask) -> None:
    @app.errorhandler(OrdertrackError)
    def _ours(exc: OrdertrackError):
        return error_response(exc.status_code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        return error_response(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal error")
