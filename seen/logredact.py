"""Keep link tokens and PINs out of logs.

A share's token is in its URL path, so every log line that names a request would record a
working link: gunicorn's access and error logs, Django's "Not Found: /s/<token>" warnings,
runserver's request lines, tracebacks. Everything that logs goes through `redact`, which
writes /s/<token>, /m/<token> and an album view's /v/<secret> as /s/…, /m/… and /v/…, and
pin=<digits> as pin=….

A link has more spellings than /s/<token>, and the logs hold them as sent: gunicorn's
access log writes the raw request line, Django's warnings the path after one decoding.
/%73/<token>, /%6d/<token> and /s%2F<token> reach the views (gunicorn decodes every %XX,
%2F included, into PATH_INFO); /S/<token>, //s/<token>, /s//<token> and /%2573/<token>
are answered 404 (routing is case-sensitive) but still carry a working token. So the
text is decoded first, as far as it spells a path (letters, digits, / % = - . _ ~; never
a space, a quote or a line break, which would let a request forge log lines), and the
links are then found case-insensitively.
"""

import functools
import logging
import re
import string

from gunicorn.glogging import Logger

# A token is everything up to the next separator; /s/<token>/report keeps its /report and
# ?next=/s/<token>&x=1 its &x=1 (a token is URL-safe base64, never an &).
_TOKEN_IN_PATH = re.compile(r"/([smv])/+[^/?#&\s\"'<>]+", re.IGNORECASE)
# A PIN sent in a query string (or echoed in a form body) by a careless client.
_PIN_VALUE = re.compile(r"(\bpin=)[^&\s\"'<>]*", re.IGNORECASE)

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
# What a path or a query's name=value is spelled with; % for escapes that were escaped.
_DECODABLE = frozenset(string.ascii_letters + string.digits + "/%=-._~")
# One decoding (gunicorn's) stands between a request and a view, so one round finds every
# spelling that reaches a view; more find what a confused client escaped twice (/%2573/).
# The bound keeps a hostile line of %252525... from costing a round per level.
_DECODE_ROUNDS = 8


def _unescape(match: re.Match) -> str:
    character = chr(int(match[1], 16))
    return character if character in _DECODABLE else match[0]


def _decoded(text: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        if "%" not in text:
            break
        decoded = _ESCAPE.sub(_unescape, text)
        if decoded == text:
            break
        text = decoded
    return text


def redact(text: str) -> str:
    text = _TOKEN_IN_PATH.sub(lambda m: f"/{m[1].lower()}/…", _decoded(text))
    return _PIN_VALUE.sub(r"\1…", text)


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
        # Only the atoms the format prints: gunicorn offers every request header and
        # every environ variable as one (~50), and redacting them all was a tenth of a
        # view's CPU. What is printed is redacted once more, as a line, by the filter.
        for key in _format_keys(self.cfg.access_log_format):
            value = atoms.get(key)
            if isinstance(value, str):
                atoms[key] = redact(value)
        return atoms


@functools.cache
def _format_keys(access_log_format: str) -> tuple[str, ...]:
    # gunicorn finds {Header}i and {VAR}e atoms by their lower-cased name.
    keys = re.findall(r"%\(([^)]*)\)", access_log_format)
    return tuple({key.lower() if key.startswith("{") else key for key in keys})
