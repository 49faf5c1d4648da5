"""gunicorn settings: `gunicorn -c python:seen.gunicorn seen.wsgi`.

Threaded workers, so one slow download does not hold up the other requests of a worker.
Still one thread per request in progress: never expose this port, put nginx in front
(deploy/nginx.conf.template), which holds slow clients instead of a thread.
"""

import os

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("GUNICORN_WORKERS", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# gunicorn believes no forwarded header from anyone: by default it would take
# X-Forwarded-Proto (-Protocol, -Ssl) from 127.0.0.1 as "this request is HTTPS" and hand it
# to Django as wsgi.url_scheme, whatever SEEN_PROXY_SSL_HEADER says. Which proxy header to
# believe is the app's decision (settings: SEEN_PROXY_SSL_HEADER, SEEN_TRUSTED_PROXIES).
# No scheme headers, no SCRIPT_NAME/PATH_INFO overrides, no peer trusted for either.
# (gunicorn reads the two lists from comma-separated strings: "" is the empty list.)
secure_scheme_headers: dict[str, str] = {}
forwarder_headers = ""
forwarded_allow_ips = ""
accesslog = "-"
errorlog = "-"
# The path holds the link token: this logger writes /s/… and /m/… instead.
logger_class = "seen.logredact.RedactingLogger"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms'
control_socket_disable = True
