"""The only settings module. Everything comes from the environment (see .env.example).

A malformed value stops start-up with a message that names the variable: a typo in
production must never quietly fall back to a default.
"""

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
if (BASE_DIR / ".env").is_file():
    environ.Env.read_env(BASE_DIR / ".env")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def _bool(name: str, default: bool) -> bool:
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}")


def _int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = env.str(name, default=str(default)).strip()
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}")
    return value


def _int_list(name: str, default: list[int]) -> list[int]:
    raw = env.str(name, default=",".join(map(str, default)))
    try:
        values = [int(part) for part in raw.split(",") if part.strip()]
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a comma-separated list of whole numbers, not {raw!r}"
        ) from None
    if not values or any(v <= 0 for v in values):
        raise ImproperlyConfigured(f"{name} must list at least one positive number")
    return sorted(set(values))


DEBUG = _bool("DEBUG", False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY must be set when DEBUG is off (python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))' makes one)"
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on-" + "x" * 20

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])

# Where the embedded defaults keep their files: the SQLite database and the photo folder.
DATA_DIR = Path(env.str("SEEN_DATA_DIR", default=str(BASE_DIR / "data")))

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "shares",
]

MIDDLEWARE = [
    # First: a load balancer's probe by IP must not meet ALLOWED_HOSTS or the SSL redirect.
    "shares.middleware.HealthCheckMiddleware",
    # These three before SecurityMiddleware, whose HTTPS redirect (answered in
    # process_request) for /s/<token> names the token in Location: that 301 must be as
    # private, unframeable and policed as the page. Early also so that every answer from
    # the middleware below (400, 405, 413, 429) carries them.
    "shares.middleware.PrivateResponseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # The viewer's language (cookie from the footer's picker, else Accept-Language; never
    # the link) before anything below can answer in words. JSON answers stay English.
    "shares.middleware.LanguageMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "shares.middleware.MethodNotAllowedMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "shares.middleware.UploadSizeLimitMiddleware",
    "shares.middleware.FormMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "shares.middleware.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "seen.urls"
WSGI_APPLICATION = "seen.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ---------------------------------------------------------------------------

try:
    DATABASES = {
        "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'seen.sqlite3'}")
    }
except (ImproperlyConfigured, ValueError, KeyError) as exc:
    raise ImproperlyConfigured(f"DATABASE_URL is not a database URL I understand: {exc}") from None
if "." not in DATABASES["default"]["ENGINE"]:
    raise ImproperlyConfigured(
        "DATABASE_URL must start with postgres://, sqlite:/// (or another Django backend's scheme)"
    )

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock when a transaction starts, so two viewers of one
    # share queue up instead of both reading "1 view left" (SQLite has no FOR UPDATE).
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory: threads of a live test server must share the database.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
else:
    # Persistent connections: opening one costs more than a whole view of a share.
    DATABASES["default"]["CONN_MAX_AGE"] = _int("DATABASE_CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", 5)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Photo storage ----------------------------------------------------------------------

# Lower-case names on purpose: django-storages reads upper-case AWS_* settings as defaults.
_bucket = env.str("AWS_STORAGE_BUCKET_NAME", default="")
_endpoint = env.str("AWS_S3_ENDPOINT_URL", default="")
if _endpoint and urlsplit(_endpoint).scheme not in {"http", "https"}:
    raise ImproperlyConfigured(
        f"AWS_S3_ENDPOINT_URL must start with http:// or https://, not {_endpoint!r}"
    )
_addressing = env.str("AWS_S3_ADDRESSING_STYLE", default="path" if _endpoint else "auto")
if _addressing not in {"auto", "path", "virtual"}:
    raise ImproperlyConfigured("AWS_S3_ADDRESSING_STYLE must be auto, path or virtual")

if _bucket:
    PHOTO_STORAGE = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": _bucket,
            "endpoint_url": _endpoint or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "signature_version": "s3v4",
            "addressing_style": _addressing,
            # Credentials come from the standard AWS variables or an IAM role (boto3's chain).
            "default_acl": None,
            "querystring_auth": True,
            # Keys are random: skip the existence check (one request) before each upload.
            "file_overwrite": True,
        },
    }
else:
    PHOTO_STORAGE = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # base_url None: no URL ever serves this folder; photos leave only through a view.
        "OPTIONS": {
            "location": str(DATA_DIR / "photos"),
            "base_url": None,
            "file_permissions_mode": 0o600,
            "directory_permissions_mode": 0o700,
        },
    }

# The photo store keeps one S3 client per process: one pooled connection per thread that
# may stream a photo at once (gunicorn's threads), and a few more for deletes.
SEEN_S3_MAX_CONNECTIONS = _int(
    "SEEN_S3_MAX_CONNECTIONS", _int("GUNICORN_THREADS", 8, minimum=1) + 2, minimum=1
)

STORAGES = {
    "default": PHOTO_STORAGE,
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]

# --- Shares -----------------------------------------------------------------------------

SEEN_MAX_UPLOAD_BYTES = _int("SEEN_MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1024)
SEEN_MAX_PIXELS = _int("SEEN_MAX_PIXELS", 50_000_000, minimum=1)
# An album: how many photos one share may hold (each within SEEN_MAX_UPLOAD_BYTES; at most
# 63, the bits of a view's record of what it fetched), and all of them together.
SEEN_MAX_PHOTOS = _int("SEEN_MAX_PHOTOS", 10, minimum=1)
if SEEN_MAX_PHOTOS > 63:
    raise ImproperlyConfigured("SEEN_MAX_PHOTOS must be at most 63")
SEEN_MAX_SHARE_BYTES = _int("SEEN_MAX_SHARE_BYTES", 50 * 1024 * 1024, minimum=1024)
# How long after an album's view its photos can be fetched, each once (seconds).
SEEN_FETCH_WINDOW = _int("SEEN_FETCH_WINDOW", 300, minimum=10)
# The decode budget (shares/images.py): what decoding one photo may need, all its frames
# counted (bytes), and how many photos one process decodes at a time. A worker's decoding
# memory stays under their product however many uploads arrive at once; 2 workers x 1 keep
# both cores busy. The defaults hold a 50 MP HEIC/AVIF and a 48 MP progressive JPEG.
SEEN_MAX_DECODE_BYTES = _int("SEEN_MAX_DECODE_BYTES", 512 * 1024 * 1024, minimum=1024 * 1024)
SEEN_DECODE_CONCURRENCY = _int("SEEN_DECODE_CONCURRENCY", 1, minimum=1)
SEEN_EXPIRY_CHOICES = _int_list("SEEN_EXPIRY_CHOICES", [3600, 86400, 604800])
SEEN_DEFAULT_EXPIRY = _int("SEEN_DEFAULT_EXPIRY", 86400, minimum=1)
if SEEN_DEFAULT_EXPIRY not in SEEN_EXPIRY_CHOICES:
    raise ImproperlyConfigured("SEEN_DEFAULT_EXPIRY must be one of SEEN_EXPIRY_CHOICES")
SEEN_MAX_PIN_FAILURES = _int("SEEN_MAX_PIN_FAILURES", 5, minimum=1)
# The key PINs are hashed under (an HMAC, see shares/keyed.py). Empty: derived from
# SECRET_KEY with a label of its own (and SECRET_KEY_FALLBACKS still open older PINs).
# Changing it makes the PINs of live shares unverifiable until those shares expire.
SEEN_PIN_KEY = env.str("SEEN_PIN_KEY", default="")
if SEEN_PIN_KEY and len(SEEN_PIN_KEY) < 32:
    raise ImproperlyConfigured("SEEN_PIN_KEY must be at least 32 characters (or empty)")
# The key the moderators' copies of reported photos' keys are wrapped under (see
# shares/keyed.py). Empty: derived from SECRET_KEY with a label of its own, which
# `manage.py check --deploy` warns about (seen.W002): set it in production, so that a leaked
# or rotated SECRET_KEY neither opens nor loses the reported photos. Changing it makes the
# photos of open reports unopenable for moderators (the shares themselves still work).
SEEN_MODERATION_KEY = env.str("SEEN_MODERATION_KEY", default="")
if SEEN_MODERATION_KEY and len(SEEN_MODERATION_KEY) < 32:
    raise ImproperlyConfigured("SEEN_MODERATION_KEY must be at least 32 characters (or empty)")
# The public address used in links (https://seen.example.org); empty means "from the request".
SEEN_BASE_URL = env.str("SEEN_BASE_URL", default="").rstrip("/")
# Open reports that suspend a share. Empty: 1 for unlimited shares (they can spread
# widely), 2 for limited ones; a number applies to every share.
SEEN_REPORTS_TO_SUSPEND = (
    _int("SEEN_REPORTS_TO_SUSPEND", 1, minimum=1)
    if env.str("SEEN_REPORTS_TO_SUSPEND", default="").strip()
    else None
)
# Shown in every page's footer when set: an e-mail address or a URL.
SEEN_ABUSE_CONTACT = env.str("SEEN_ABUSE_CONTACT", default="").strip()

# Uploads larger than this are refused with 413 before the body is read; Django's own
# guard for non-file fields stays at its 2.5 MB default.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FIELDS = 100
# Django refuses the file after the last photo a share may hold (shares.middleware answers).
DATA_UPLOAD_MAX_NUMBER_FILES = SEEN_MAX_PHOTOS

# --- Security ---------------------------------------------------------------------------

CSRF_FAILURE_VIEW = "shares.responses.csrf_failure"
SECURE_CONTENT_TYPE_NOSNIFF = True
# A link token must never reach another site in a Referer header.
SECURE_REFERRER_POLICY = "no-referrer"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True

# No inline script or style anywhere: templates load static/js and static/css only.
# blob: is how the open page shows the bytes of a view.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "img-src": [CSP.SELF, "blob:", "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "form-action": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
}

# Production behind TLS: SEEN_HTTPS=true turns on HSTS, secure cookies and the redirect
# (/healthz is answered before the redirect, see HealthCheckMiddleware).
SEEN_HTTPS = _bool("SEEN_HTTPS", False)
SECURE_SSL_REDIRECT = SEEN_HTTPS
SESSION_COOKIE_SECURE = SEEN_HTTPS
CSRF_COOKIE_SECURE = SEEN_HTTPS
_hsts_seconds = _int("SEEN_HSTS_SECONDS", 31536000)
SECURE_HSTS_SECONDS = _hsts_seconds if SEEN_HTTPS else 0
SECURE_HSTS_INCLUDE_SUBDOMAINS = _bool("SEEN_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = _bool("SEEN_HSTS_PRELOAD", True)

# Only a proxy we run may say a request came over HTTPS; unset, no header is believed.
_proxy_ssl_header = env.str("SEEN_PROXY_SSL_HEADER", default="").strip()
if _proxy_ssl_header:
    if not re.fullmatch(r"[A-Za-z0-9-]+", _proxy_ssl_header):
        raise ImproperlyConfigured(
            "SEEN_PROXY_SSL_HEADER must be a header name such as X-Forwarded-Proto, "
            f"not {_proxy_ssl_header!r}"
        )
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_ssl_header.upper().replace("-", "_"), "https")


def _trusted_proxies(name: str) -> int | list:
    """A count of proxies in front of the app, or the addresses (or networks) they use."""
    raw = env.str(name, default="0").strip() or "0"
    if raw.isdigit():
        return int(raw)
    try:
        return [
            ipaddress.ip_network(part.strip(), strict=False)
            for part in raw.split(",")
            if part.strip()
        ]
    except ValueError:
        raise ImproperlyConfigured(
            f"{name} must be a number of proxies or a comma-separated list of proxy "
            f"addresses or networks (10.0.0.0/8), not {raw!r}"
        ) from None


# Who may say in X-Forwarded-For where a request came from (see shares/ratelimits.py).
SEEN_TRUSTED_PROXIES = _trusted_proxies("SEEN_TRUSTED_PROXIES")

_admin_path = env.str("SEEN_ADMIN_PATH", default="admin/").strip().strip("/")
_admin_segments = _admin_path.split("/")
if (
    not re.fullmatch(r"[A-Za-z0-9._~-]+(/[A-Za-z0-9._~-]+)*", _admin_path)
    or {".", ".."} & set(_admin_segments)
    or _admin_segments[0]
    in {"s", "m", "api", "static", "healthz", "robots.txt", "language", "jsi18n"}
):
    raise ImproperlyConfigured(
        f"SEEN_ADMIN_PATH must be a path such as admin/ or staff-4f9c/ that no other page "
        f"uses, not {_admin_path!r}"
    )
SEEN_ADMIN_PATH = _admin_path + "/"

# Sessions are the admin's alone (the public pages use none). The table keeps a digest
# of each key, never the key, so a copy of the database logs nobody in (seen/sessions.py).
SESSION_ENGINE = "seen.sessions"
# A moderator signs in again after this many seconds, counted from signing in.
SEEN_ADMIN_SESSION_AGE = _int("SEEN_ADMIN_SESSION_AGE", 4 * 3600, minimum=60)
SESSION_COOKIE_AGE = SEEN_ADMIN_SESSION_AGE

# --- Rate limits ------------------------------------------------------------------------


def _rate(name: str, default: str) -> str | None:
    """A count per fixed window (20/h, 30/m, 10/15m), or off."""
    raw = env.str(name, default=default).strip().lower()
    if raw == "off":
        return None
    if not re.fullmatch(r"[1-9][0-9]*/([1-9][0-9]*)?[smhd]", raw):
        raise ImproperlyConfigured(
            f"{name} must be a count per period such as 20/h, 30/m or 10/15m (or off), not {raw!r}"
        )
    return raw


# Per client address, counted in the shared cache below so every process sees them.
SEEN_RATE_LIMITS = {
    # The upload form and POST /api/shares together.
    "uploads": _rate("SEEN_RATE_LIMIT_UPLOADS", "20/h"),
    # POST /s/<token>: each one checks a PIN and may spend a view.
    "views": _rate("SEEN_RATE_LIMIT_VIEWS", "30/m"),
    # Wrong PINs, on any share: 5 end one share, this stops guessing across many.
    "pin_failures": _rate("SEEN_RATE_LIMIT_PIN_FAILURES", "10/h"),
    # Deleting through a manage link (POST or DELETE /m/<token>).
    "manage": _rate("SEEN_RATE_LIMIT_MANAGE", "30/m"),
    # Abuse reports.
    "reports": _rate("SEEN_RATE_LIMIT_REPORTS", "10/h"),
    # POSTs to the admin login page.
    "admin_login": _rate("SEEN_RATE_LIMIT_ADMIN_LOGIN", "10/15m"),
}

# Rate-limit counters must be shared by every worker process: Redis when there is one,
# else a table in the database (shares/counters.py). Never a per-process memory cache,
# which would multiply every limit by the number of workers. They are counted with one
# round trip each, which Django's cache API cannot do (its Redis incr() is EXISTS then
# INCRBY, and its database cache stores pickles that SQL cannot add to), so nothing here
# goes through the cache framework and CACHES keeps Django's default.
REDIS_URL = env.str("REDIS_URL", default="").strip()
if REDIS_URL and urlsplit(REDIS_URL).scheme not in {"redis", "rediss", "unix"}:
    raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://")
# What every rate-limit counter's key starts with, in Redis.
SEEN_RATE_LIMIT_PREFIX = env.str("SEEN_RATE_LIMIT_PREFIX", default="seen:rl").strip() or "seen:rl"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
# Every language with a complete catalogue in locale/ (test_catalogues.py checks them).
# The names are each language's own, as the footer's picker shows them.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("pt-br", "Português (Brasil)"),
    ("nl", "Nederlands"),
    ("pl", "Polski"),
    ("uk", "Українська"),
    ("tr", "Türkçe"),
    ("ja", "日本語"),
    ("ar", "العربية"),
]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The picker's cookie: a year, readable by no script, sent only to this site.
LANGUAGE_COOKIE_AGE = 365 * 86400
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SEEN_HTTPS
# Times are stored and written in UTC; pages name the zone, and their script rewrites
# them in the viewer's own zone and format.
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").strip().upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {LOG_LEVEL!r}"
    )

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Paths hold link tokens ("Not Found: /s/<token>", runserver's request lines, the
    # tracebacks of errors): every line is written with /s/… and /m/… and no PIN.
    "filters": {"redact": {"()": "seen.logredact.RedactingFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]}
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        # Only the redacting console: no mail_admins, whose report would hold the
        # request's URL and POST data (the PIN).
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
