"""Keep link tokens and PINs out of logs.

A share's token is in its URL path, so every log line that names a request would record a
working link: gunicorn's access and error logs, Django's "Not Found: /s/<token>" warnings,
runserver's request lines, tracebacks. Everything that logs goes through `redact`, which
writes /s/<token> and /m/<token> as /s/… and /m/…, and pin=<digits> as pin=….
"""

import logging
import re

from gunicorn.glogging import Logger

# A token is everything up to the next separator; /s/<token>/report keeps its /report.
_TOKEN_IN_PATH = re.compile(r"/([sm])/[^/?#\s\"'<>]+")
# A PIN sent in a query string (or echoed in a form body) by a careless client.
_PIN_VALUE = re.compile(r"(\bpin=)[^&\s\"'<>]*", re.IGNORECASE)


def redact(text: str) -> str:
    return _PIN_VALUE.sub(r"\1…", _TOKEN_IN_PATH.sub(r"/\1/…", text))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message, traceback and stack in place, so every handler and
    formatter after it sees only the redacted text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: log what we have
            message = f"{record.msg} {record.args}"
        record.msg, record.args = redact(message), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RedactingLogger(Logger):
    """gunicorn's logger with every access-log atom and every error-log line redacted."""

    def setup(self, cfg):
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        return {
            key: redact(value) if isinstance(value, str) else value
            for key, value in atoms.items()
        }
