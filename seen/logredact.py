"""Keep link tokens out of logs: /s/<token> and /m/<token> are logged as /s/… and /m/…."""

import re

from gunicorn.glogging import Logger

_TOKEN_IN_PATH = re.compile(r"/([sm])/[^/?#\s\"]+")


def redact_path(text: str) -> str:
    return _TOKEN_IN_PATH.sub(r"/\1/…", text)


class RedactingLogger(Logger):
    """gunicorn's logger with the request line, path and Referer redacted."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "{referer}i"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact_path(atoms[key])
        return atoms
