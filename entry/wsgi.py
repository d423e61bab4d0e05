"""WSGI entry point for gunicorn: `gunicorn entry.wsgi:app`."""

from entry.logs import configure_logging
from entry.memory import limit_malloc_arenas
from ordertrack.settings import Settings
from service.app import create_app, start_inprocess_queue

limit_malloc_arenas()

settings = Settings.from_env()
configure_logging(settings.log_level)
app = create_app(settings)
if not settings.redis_url:
    start_inprocess_queue(app)
