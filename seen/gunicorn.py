"""gunicorn settings: `gunicorn -c python:seen.gunicorn seen.wsgi`.

Threaded workers, so one slow download does not hold up the other requests of a worker.
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Behind a proxy: the proxy sets X-Forwarded-*; the app decides what to trust.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
errorlog = "-"
# The path holds the link token: this logger writes /s/… and /m/… instead.
logger_class = "seen.logredact.RedactingLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
control_socket_disable = True

