"""/healthz: the process answers. /readyz: the database and the broker answer too."""

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from workers.broker import broker_answers

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    edge = current_app.extensions["ordertrack"]
    checks = {"database": _database_answers(edge.engine), "broker": broker_answers(edge.broker)}
    ready = all(checks.values())
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _database_answers(engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
