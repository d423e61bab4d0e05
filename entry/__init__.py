"""Where processes start: the `ordertrack` CLI, logging set-up, the WSGI app and gunicorn
glue, a queue worker process's composition root. It may import both edges, the web service
(service/) and the queue workers (workers/); neither imports it (import-linter holds it so)."""
