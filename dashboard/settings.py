"""Suitehealth settings: one module, every value from the environment, defaults that run as-is.

With no environment at all the app runs "embedded": a SQLite file under var/ and Celery tasks
executed in-process right after the transaction that queued them commits. Setting DATABASE_URL and
REDIS_URL switches to the "served" mode (PostgreSQL, a Redis broker, real workers). Production
differs from development only by these variables; there are no per-environment code paths.
"""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from dashboard.email_url import CONSOLE, SMTP, EmailConfig, parse_email_url
from dashboard.env import (
    env_bool,
    env_choice,
    env_int,
    env_list,
    env_networks,
    env_secret,
    env_str,
    env_url,
)

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SUITEHEALTH_VAR_DIR", str(BASE_DIR / "var")))

DEV_SECRET_KEY = "dev-only-not-secret-6f1c0e8a4b"
SECRET_KEY = env_secret("SECRET_KEY", DEV_SECRET_KEY)
DEBUG = env_bool("DEBUG", True)
if not DEBUG and SECRET_KEY == DEV_SECRET_KEY:
    # Refused here, not only by `manage.py check`: gunicorn and celery never run the checks, and
    # sessions and unsubscribe links signed with a published key could be forged.
    raise ImproperlyConfigured(
        "DEBUG is off but SECRET_KEY is not set: set SECRET_KEY (or SECRET_KEY_FILE) to a long "
        "random value"
    )
# The debug error page (DEBUG=true) and error emails hide connection URLs, which hold passwords.
DEFAULT_EXCEPTION_REPORTER_FILTER = "dashboard.error_reports.SettingsFilter"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])
SITE_URL = env_url("SITE_URL", "http://127.0.0.1:8000")
# Served over HTTPS (SITE_URL https://...): the session and CSRF cookies are sent over HTTPS only.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool(
    "SECURE_COOKIES", SITE_URL.startswith("https://")
)
# Behind a proxy that ends TLS: believe its X-Forwarded-Proto (only if it always sets it).
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("TRUST_X_FORWARDED_PROTO", False) else None
)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0, minimum=0)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "ingest",
    "reports",
    "dashboard.apps.DashboardConfig",
]

MIDDLEWARE = [
    # First, so its Server-Timing covers every other middleware and the view.
    "dashboard.middleware.ServerTimingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

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

# --- Database -----------------------------------------------------------------------------------
# Seconds to wait for PostgreSQL and Redis to answer a connection (and Redis a command).
DATABASE_CONNECT_TIMEOUT = 5
REDIS_SOCKET_TIMEOUT = 5
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'suitehealth.sqlite3'}")
if not DATABASE_URL.startswith(("sqlite:", "postgres:", "postgresql:")):
    raise ImproperlyConfigured(
        f"DATABASE_URL={DATABASE_URL!r}: only sqlite:///PATH and postgres://... are supported"
    )
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # A server that accepts the connection and never answers fails a request within seconds
    # (answered 503, see dashboard/views.py server_error) instead of holding it until the web
    # worker's timeout.
    DATABASES["default"].setdefault("OPTIONS", {})["connect_timeout"] = DATABASE_CONNECT_TIMEOUT
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # A busy timeout lets the in-process task and a request share the file without
    # "database is locked" errors; WAL lets pages read while an upload is being written.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # The covering indexes' INCLUDE columns serve PostgreSQL's index-only reads; SQLite builds
    # the same indexes without them, as intended.
    SILENCED_SYSTEM_CHECKS = ["models.W040"]
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Celery -------------------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
EMBEDDED_TASKS = not REDIS_URL
CELERY_BROKER_URL = REDIS_URL or "memory://localhost/"
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
# Embedded mode: tasks run in the calling process. They are always queued with
# transaction.on_commit, so "eager" still means "after the data is committed".
CELERY_TASK_ALWAYS_EAGER = EMBEDDED_TASKS
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800, minimum=10)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 1700, minimum=5)
# Late acknowledgement: a message is removed from Redis only after its task returns, so a worker
# killed mid-task leaves the message to be redelivered (tasks are idempotent; see ingest/tasks.py).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redelivery delay for unacknowledged messages of a dead worker. Parse tasks are far shorter;
    # the sweeper re-enqueues stuck runs sooner anyway.
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600, minimum=60),
    # A broker that accepts connections and never answers: a publish (an upload's parse task)
    # fails within seconds and is logged for the sweeper (ingest/queueing.py), instead of
    # hanging the request. The worker's blocking reads wait 1 s at a time, well inside this.
    "socket_timeout": REDIS_SOCKET_TIMEOUT,
    "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
if CELERY_TASK_SOFT_TIME_LIMIT >= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_TASK_SOFT_TIME_LIMIT must be below CELERY_TASK_TIME_LIMIT")

# --- Cache and sessions -------------------------------------------------------------------------
# Served mode: Redis, shared by every web worker; embedded mode: this process's memory.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "suitehealth",
            "OPTIONS": {
                "socket_timeout": REDIS_SOCKET_TIMEOUT,
                "socket_connect_timeout": REDIS_SOCKET_TIMEOUT,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Sessions live in the database only: pages and login keep working while Redis is down (uploads
# do too, see ingest/queueing.py), at the cost of one indexed query a page view.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# --- Uploads ------------------------------------------------------------------------------------
# Largest request body accepted, compressed or not (the Content-Length is checked before reading).
SUITEHEALTH_MAX_UPLOAD_BYTES = env_int("SUITEHEALTH_MAX_UPLOAD_BYTES", 256 * 2**20, minimum=1024)
# Largest size one file may have once decompressed: the bound that defeats gzip bombs.
SUITEHEALTH_MAX_FILE_BYTES = env_int("SUITEHEALTH_MAX_FILE_BYTES", 1024 * 2**20, minimum=1024)
# All of one upload's files together, decompressed: what one request makes a web worker read.
SUITEHEALTH_MAX_UPLOAD_DECOMPRESSED_BYTES = env_int(
    "SUITEHEALTH_MAX_UPLOAD_DECOMPRESSED_BYTES", 2048 * 2**20, minimum=1024
)
SUITEHEALTH_MAX_FILES = env_int("SUITEHEALTH_MAX_FILES", 200, minimum=1)
# A run still "received" or "parsing" this long after its last attempt is re-enqueued.
SUITEHEALTH_STUCK_AFTER_SECONDS = env_int("SUITEHEALTH_STUCK_AFTER_SECONDS", 300, minimum=1)
# SUITEHEALTH_SWEEP_SECONDS (how often the sweeper runs) is read by dashboard/celery.py.
# Recomputes wait this long after new data so that a burst of uploads is computed once.
SUITEHEALTH_RECOMPUTE_DELAY_SECONDS = env_int("SUITEHEALTH_RECOMPUTE_DELAY_SECONDS", 10, minimum=0)
SUITEHEALTH_MAX_PARSE_ATTEMPTS = env_int("SUITEHEALTH_MAX_PARSE_ATTEMPTS", 5, minimum=1)
# Callables (project) -> int whose sum is the "pending" work of GET /api/v1/projects/SLUG/status.
SUITEHEALTH_PENDING_COUNTERS = [
    "ingest.selectors.runs_pending_count",
    "reports.selectors.stale_service_weeks_count",
]
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 2**20
DATA_UPLOAD_MAX_NUMBER_FIELDS = 2000
# Django's own cap (100 by default) would refuse an upload under SUITEHEALTH_MAX_FILES: one more,
# so the API's too_many_files error is the one a client sees.
DATA_UPLOAD_MAX_NUMBER_FILES = SUITEHEALTH_MAX_FILES + 1
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR", "") or None

# --- Email and alerts ---------------------------------------------------------------------------
# EMAIL_URL (smtp://user:pass@host:25, smtp+tls://..., smtp+ssl://..., console:) sets everything
# at once; see dashboard/email_url.py. Without it Django's EMAIL_HOST, EMAIL_PORT... are read one
# by one. Embedded mode with neither prints emails to the console instead of failing to send.
EMAIL_URL = env_secret("EMAIL_URL", "")  # a secret: it may carry the SMTP password
_EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_URL:
    _email = parse_email_url(EMAIL_URL)
else:
    _use_ssl = env_bool("EMAIL_USE_SSL", False)
    _use_tls = env_bool("EMAIL_USE_TLS", False)
    _email = EmailConfig(
        backend=CONSOLE if EMBEDDED_TASKS and not _EMAIL_HOST else SMTP,
        host=_EMAIL_HOST or "localhost",
        # 0 means "the usual port for the chosen security".
        port=env_int("EMAIL_PORT", 0, minimum=1) or (465 if _use_ssl else 587 if _use_tls else 25),
        user=env_str("EMAIL_HOST_USER", ""),
        password=env_secret("EMAIL_HOST_PASSWORD", ""),
        use_tls=_use_tls,
        use_ssl=_use_ssl,
    )
if _email.use_tls and _email.use_ssl:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL are exclusive: pick one")
EMAIL_BACKEND = _email.backend
EMAIL_HOST = _email.host
EMAIL_PORT = _email.port
EMAIL_HOST_USER = _email.user
EMAIL_HOST_PASSWORD = _email.password
EMAIL_USE_TLS = _email.use_tls
EMAIL_USE_SSL = _email.use_ssl
# A stalled SMTP server must not hold an email worker forever (Django's default is no timeout).
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30, minimum=1)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "") or "Suitehealth <suitehealth@localhost>"
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# A finding that closes and reopens within this window (on the CI timeline) is not told again.
SUITEHEALTH_ALERT_HYSTERESIS_SECONDS = env_int(
    "SUITEHEALTH_ALERT_HYSTERESIS_SECONDS", 24 * 3600, minimum=0
)
SUITEHEALTH_WEBHOOK_TIMEOUT_SECONDS = env_int("SUITEHEALTH_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
# Addresses webhooks may not POST to (an ingest key can subscribe any URL): this host and the
# link-local range, where cloud metadata services answer. "none" lets webhooks reach everything.
SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS = env_networks(
    "SUITEHEALTH_WEBHOOK_BLOCKED_NETWORKS",
    [
        "127.0.0.0/8",
        "::1/128",
        "0.0.0.0/8",
        "::/128",
        "169.254.0.0/16",
        "fe80::/10",
        "fd00:ec2::254/128",
        "100.100.100.200/32",
    ],
)

# --- Weekly reports -----------------------------------------------------------------------------
# Paper of the PDF reports: A4 or Letter.
SUITEHEALTH_REPORT_PAGE_SIZE = env_str("SUITEHEALTH_REPORT_PAGE_SIZE", "A4")
if SUITEHEALTH_REPORT_PAGE_SIZE not in ("A4", "Letter"):
    raise ImproperlyConfigured(
        f"SUITEHEALTH_REPORT_PAGE_SIZE={SUITEHEALTH_REPORT_PAGE_SIZE!r}: use A4 or Letter"
    )
# The browser kaleido draws the PDF's charts with (empty: found on PATH).
SUITEHEALTH_CHART_BROWSER = env_str("SUITEHEALTH_CHART_BROWSER", "")

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["ingest.auth.IngestTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["ingest.auth.HasIngestToken"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "ingest.errors.api_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Suitehealth API",
    "DESCRIPTION": "Upload test results from CI; read isolation, performance and regression metrics.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Auth, i18n, static -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every request without it
WHITENOISE_USE_FINDERS = True

LOG_LEVEL = env_choice("LOG_LEVEL", "INFO", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "ingest": {"level": LOG_LEVEL},
        "reports": {"level": LOG_LEVEL},
        "dashboard": {"level": LOG_LEVEL},
        "celery": {"level": LOG_LEVEL},
    },
}
