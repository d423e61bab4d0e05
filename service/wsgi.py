"""WSGI entry point for gunicorn: `gunicorn service.wsgi:app`."""

from entry.logs import configure_logging
from ordertrack.settings import Settings
from service.app import create_app, start_inprocess_queue
from service.memory import limit_malloc_arenas

limit_malloc_arenas()

settings = Settings.from_env()
configure_logging(settings.log_level)
app = create_app(settings)
if not settings.redis_url:
    start_inprocess_queue(app)
