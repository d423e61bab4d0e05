# syntax=docker/dockerfile:1
#
# ordertrack image: one image, four roles (selected by the command):
#   ordertrack serve    HTTP receiver (default)
#   ordertrack worker   Dramatiq queue workers
#   ordertrack sweep    periodic sweeper (one instance)
#   ordertrack migrate  one-shot Alembic migrations
#
# Both stages must use the same base image: the virtualenv copied from the builder
# links to the builder's /usr/local/bin/python3.11.
ARG PYTHON_IMAGE=python:3.11-slim

# ---------------------------------------------------------------------------
# builder: resolve dependencies and build the project wheel into /opt/venv
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so that this layer is reused while only
# the source changes. Runtime dependencies only: never the [test] extra.
COPY pyproject.toml ./
RUN python -c "import tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; open('/tmp/requirements.txt', 'w').write('\n'.join(deps) + '\n')" \
 && pip install -r /tmp/requirements.txt

# Then the project itself, built as a wheel (not editable) and installed without deps.
COPY README.md ./
COPY ordertrack ./ordertrack
COPY service ./service
COPY workers ./workers
COPY entry ./entry
COPY simulate ./simulate
RUN pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && pip install --no-deps /tmp/wheels/*.whl \
 && ordertrack --help > /dev/null

# ---------------------------------------------------------------------------
# runtime: the virtualenv, a non-root user, no compilers, no source tree
# ---------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

# tini is PID 1: forwards SIGTERM to the ordertrack process (graceful gunicorn/Dramatiq
# shutdown) and reaps zombies. It is a tiny static init, not a build tool.
# (Debian's package versions rotate within a release, so it is not pinned.)
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# Fixed numeric uid/gid so Kubernetes' runAsNonRoot can verify it (deploy/k8s uses 10001).
RUN groupadd --system --gid 10001 ordertrack \
 && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /app \
      --shell /usr/sbin/nologin ordertrack

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PORT=8000 \
    WEB_CONCURRENCY=2

WORKDIR /app
USER 10001:10001

EXPOSE 8000

# python:slim has no curl; use the standard library. Only meaningful for `serve`:
# docker-compose.yml disables it for the worker, sweeper and migrate services.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

ENTRYPOINT ["tini", "--"]
CMD ["ordertrack", "serve"]
