# syntax=docker/dockerfile:1
FROM python:3.13-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SEEN_DATA_DIR=/data \
    PORT=8000

WORKDIR /app

COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# The translations (locale/*/LC_MESSAGES/*.po) are compiled with GNU gettext's msgfmt,
# which leaves the image again in the same layer. Debian's own gettext: no version pin.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends gettext \
    && SECRET_KEY=build-only-not-secret DEBUG=false python manage.py compilemessages \
    && apt-get purge -y --auto-remove gettext \
    && rm -rf /var/lib/apt/lists/*

# Static files are collected into the image; whitenoise serves them with far-future caching.
RUN SECRET_KEY=build-only-not-secret DEBUG=false python manage.py collectstatic --noinput \
    && useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin seen \
    && mkdir -p /data \
    && chown seen /data

USER 10001
VOLUME ["/data"]
# gunicorn gives every request in progress a thread (2 workers x 8 threads): a few dozen
# slow clients take them all. Never publish this port; only nginx running
# deploy/nginx.conf.template may reach it (README, "Running in production").
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz\", timeout=4)"]

CMD ["gunicorn", "-c", "python:seen.gunicorn", "seen.wsgi"]
