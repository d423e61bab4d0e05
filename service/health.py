"""/healthz: the process answers. /readyz: the database and the broker answer too."""

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import text

from workers.broker import broker_answers

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """Both checks by default. `?require=database` lets a load balancer keep sending webhooks
    while Redis is away: the inbox holds them and the sweeper enqueues them later."""
    edge = current_app.extensions["ordertrack"]
    checks = {"database": _database_answers(edge.engine), "broker": broker_answers(edge.broker)}
    required = request.args.getlist("require") or list(checks)
    ready = all(checks.get(name, False) for name in required)
    return jsonify(status="ready" if ready else "not ready", checks=checks), 200 if ready else 503


def _database_answers(engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
