"""subrelay settings.

With no environment at all this is the embedded mode: SQLite under DATA_DIR, in-process caches and
limiter, background tasks on an in-process schedule. DATABASE_URL switches the database to PostgreSQL,
REDIS_URL moves caches, concurrency slots, sticky sessions and background tasks (Celery) to Redis.
Every variable is listed in the README.
"""

import os
import secrets
from pathlib import Path

import environ
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()

# DATA_DIR holds the database and the secrets: everything this process creates (there or elsewhere) is
# readable by its own user only, 0600 files and 0700 directories, whatever the umask it was started with.
os.umask(0o077)
DATA_DIR = Path(env("DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
DATA_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
FILE_UPLOAD_PERMISSIONS, FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o600, 0o700  # collectstatic too


def _kept_secret(name: str, make) -> str:
    """A secret from the environment, else one generated once and kept in DATA_DIR.

    Generated secrets are fine for one node; several hosts must share them through the environment,
    otherwise they cannot read each other's sessions and encrypted credentials.
    """
    if value := env(name, default=""):
        return value
    path = DATA_DIR / name.lower()
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _kept_secret("SECRET_KEY", lambda: secrets.token_urlsafe(50))
# Comma-separated Fernet keys; the first encrypts, all decrypt (rotation).
CREDENTIALS_KEY = _kept_secret("CREDENTIALS_KEY", lambda: Fernet.generate_key().decode())
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["*"])
# Peers whose forwarding headers (CF-Connecting-IP, X-Real-IP, X-Forwarded-For) are believed: CIDR list.
TRUSTED_PROXIES = env.list("TRUSTED_PROXIES", default=[])
try:
    from core.clientip import parse_networks

    parse_networks(TRUSTED_PROXIES)
except ValueError as exc:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(str(exc)) from None
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

HOST = env("HOST", default="127.0.0.1")
PORT = env.int("PORT", default=8080)

REDIS_URL = env("REDIS_URL", default="")
DATABASE_URL = env("DATABASE_URL", default="")
# Tasks run in-process unless Celery (which needs Redis as broker) is in use.
TASKS_IN_PROCESS = env.bool("TASKS_IN_PROCESS", default=not REDIS_URL)

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "sortedm2m",
    "core",
    "users",
    "accounts",
    "groups",
    "apikeys",
    "gateway",
    "billing",
    "usage",
    "portal",
]

# The gateway routes (/v1/*, /v1beta/*) bypass all of these: see config/asgi.py.
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.timezones.UserTimeZoneMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
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
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"


def _sqlite(path) -> dict:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": path,
        "OPTIONS": {
            # IMMEDIATE takes the write lock at BEGIN, so concurrent charges queue instead of
            # failing with "database is locked" when a read transaction tries to upgrade.
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
        # A file, not memory, so that a gateway started in another process by a test shares it.
        "TEST": {"NAME": str(DATA_DIR / f"test-{env('PYTEST_XDIST_WORKER', default='main')}.sqlite3")},
    }


if DATABASE_URL.startswith("sqlite:"):  # another SQLite file (a test's gateway process), same settings
    DATABASES = {"default": _sqlite(env.db_url("DATABASE_URL")["NAME"])}
elif DATABASE_URL:
    DATABASES = {"default": env.db_url("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_MAX_AGE"] = 0  # the pool owns connection lifetime
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env.int("DB_POOL_MIN", default=2),
            "max_size": env.int("DB_POOL_MAX", default=20),
            "timeout": env.int("DB_POOL_TIMEOUT", default=10),
        }
else:
    for _existing in DATA_DIR.glob("subrelay.sqlite3*"):  # a database created before that rule
        if _existing.stat().st_mode & 0o077:
            _existing.chmod(0o600)
    DATABASES = {"default": _sqlite(DATA_DIR / "subrelay.sqlite3")}

if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "users.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
]
LOGIN_URL = "admin:login"
LOGIN_REDIRECT_URL = "admin:index"  # /admin/login/ opened directly has no ?next=

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env("TIME_ZONE", default="UTC")  # the zone the admin shows dates in, unless the user has their own
FORMAT_MODULE_PATH = ["config.formats"]  # one date-time format with its zone, in every language
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATICFILES_FINDERS = ["core.staticfiles.FileSystemFinder", "core.staticfiles.AppDirectoriesFinder"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Prompts of 64 MB and more must pass on the gateway; the admin and REST API take far less. Both are
# enforced from Content-Length and while the body arrives, before authentication (config/asgi.py).
GATEWAY_MAX_BODY_BYTES = env.int("GATEWAY_MAX_BODY_BYTES", default=80 * 1024 * 1024)
SITE_MAX_BODY_BYTES = env.int("SITE_MAX_BODY_BYTES", default=10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = GATEWAY_MAX_BODY_BYTES
# A body that stops arriving for this long is abandoned (408).
HTTP_BODY_TIMEOUT = env.float("HTTP_BODY_TIMEOUT", default=60.0)
# The server's own limits (config/server.py): the header block, its fields, the time to send it.
HTTP_MAX_HEADER_BYTES = env.int("HTTP_MAX_HEADER_BYTES", default=64 * 1024)
HTTP_MAX_HEADERS = env.int("HTTP_MAX_HEADERS", default=100)
HTTP_HEADER_TIMEOUT = env.float("HTTP_HEADER_TIMEOUT", default=30.0)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10000

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "COERCE_DECIMAL_TO_STRING": False,
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "core.rest.exception_handler",
}
# Lifetime of the REST API's Bearer tokens (POST /api/v1/auth/login), seconds.
API_TOKEN_TTL = env.int("API_TOKEN_TTL", default=24 * 3600)
# Login attempts (REST and /admin/login/) per client address, and failed ones per account (DRF rate
# syntax, e.g. "20/min"); empty = unlimited. See users/login.py.
API_LOGIN_RATE = env("API_LOGIN_RATE", default="20/min")
API_LOGIN_ACCOUNT_RATE = env("API_LOGIN_ACCOUNT_RATE", default="100/hour")
SPECTACULAR_SETTINGS = {
    "TITLE": "subrelay API",
    "DESCRIPTION": "Management API of the subrelay AI gateway (sub2api-compatible paths and envelope).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "accounts.models.Account.Status",
        "GroupStatusEnum": "groups.models.Group.Status",
        "UserStatusEnum": "users.models.User.Status",
        "ApiKeyStatusEnum": "apikeys.models.ApiKey.Status",
        "SettableKeyStatusEnum": ["active", "inactive"],
        "BedrockAuthEnum": "accounts.models.Account.BedrockAuth",
        "ResetModeEnum": "accounts.models.Account.ResetMode",
        "FixedResetModeEnum": ["fixed"],
        "CacheTtlTargetEnum": ["5m", "1h"],
    },
}

# --- gateway -------------------------------------------------------------------------------------
ANTHROPIC_BASE_URL = env("ANTHROPIC_BASE_URL", default="https://api.anthropic.com")
# Upstream of OpenAI accounts without their own base URL (a base URL may end in /v1 or not).
OPENAI_BASE_URL = env("OPENAI_BASE_URL", default="https://api.openai.com/v1")
# Where OAuth access tokens are refreshed; tests point it at a fake.
CLAUDE_OAUTH_TOKEN_URL = env("CLAUDE_OAUTH_TOKEN_URL", default="https://platform.claude.com/v1/oauth/token")
CLAUDE_OAUTH_CLIENT_ID = env("CLAUDE_OAUTH_CLIENT_ID", default="9d1c250a-e61b-44d9-88ed-5944d1962f5e")
# Bedrock endpoint template; tests point it at a fake. {region} is filled in per account.
BEDROCK_ENDPOINT = env("BEDROCK_ENDPOINT", default="https://bedrock-runtime.{region}.amazonaws.com")
# Google AI Studio (Gemini API-key accounts without their own base URL).
GEMINI_BASE_URL = env("GEMINI_BASE_URL", default="https://generativelanguage.googleapis.com")
UPSTREAM_RESPONSE_HEADER_TIMEOUT = env.float("UPSTREAM_RESPONSE_HEADER_TIMEOUT", default=600.0)
STREAM_IDLE_TIMEOUT = env.float("STREAM_IDLE_TIMEOUT", default=180.0)
# A non-streaming upstream answer larger than this is refused with 502 (the gateway holds it in memory).
UPSTREAM_RESPONSE_MAX_BYTES = env.int("UPSTREAM_RESPONSE_MAX_BYTES", default=8 * 1024 * 1024)
STREAM_KEEPALIVE_INTERVAL = env.float("STREAM_KEEPALIVE_INTERVAL", default=10.0)
# A client that hangs up still pays what the upstream bills: its stream is read on this long (and at most
# this many bytes) for the final usage; past either limit, what was seen is charged and flagged.
STREAM_DRAIN_TIMEOUT = env.float("STREAM_DRAIN_TIMEOUT", default=60.0)
STREAM_DRAIN_MAX_BYTES = env.int("STREAM_DRAIN_MAX_BYTES", default=16 * 1024 * 1024)
MAX_ACCOUNT_SWITCHES = env.int("MAX_ACCOUNT_SWITCHES", default=10)
AUTH_CACHE_TTL = env.int("AUTH_CACHE_TTL", default=300)
AUTH_CACHE_LOCAL_TTL = env.float("AUTH_CACHE_LOCAL_TTL", default=15.0)
CONCURRENCY_SLOT_TTL = env.int("CONCURRENCY_SLOT_TTL", default=30 * 60)
CONCURRENCY_WAIT_TIMEOUT = env.float("CONCURRENCY_WAIT_TIMEOUT", default=30.0)
CONCURRENCY_PING_INTERVAL = env.float("CONCURRENCY_PING_INTERVAL", default=10.0)
# The sliding period a key's rpm_limit counts requests in (seconds; a minute, shorter only in tests).
KEY_RPM_PERIOD = env.float("KEY_RPM_PERIOD", default=60.0)
STICKY_SESSION_TTL = env.int("STICKY_SESSION_TTL", default=3600)
OVERLOAD_COOLDOWN_MINUTES = env.int("OVERLOAD_COOLDOWN_MINUTES", default=10)
OAUTH_401_COOLDOWN_MINUTES = env.int("OAUTH_401_COOLDOWN_MINUTES", default=10)
TOKEN_REFRESH_INTERVAL = env.int("TOKEN_REFRESH_INTERVAL", default=300)
TOKEN_REFRESH_BEFORE_EXPIRY = env.int("TOKEN_REFRESH_BEFORE_EXPIRY", default=1800)
# Scheduler (gateway/scheduler.py): waiting for a busy account, snapshot safety net, last-use batching.
STICKY_SESSION_WAIT_TIMEOUT = env.float("STICKY_SESSION_WAIT_TIMEOUT", default=120.0)
STICKY_SESSION_MAX_WAITING = env.int("STICKY_SESSION_MAX_WAITING", default=3)
FALLBACK_WAIT_TIMEOUT = env.float("FALLBACK_WAIT_TIMEOUT", default=30.0)
FALLBACK_MAX_WAITING = env.int("FALLBACK_MAX_WAITING", default=100)
SCHEDULER_SNAPSHOT_MAX_AGE = env.float("SCHEDULER_SNAPSHOT_MAX_AGE", default=60.0)
LAST_USED_FLUSH_INTERVAL = env.float("LAST_USED_FLUSH_INTERVAL", default=10.0)
# Usage rollups (usage/): the aggregation re-reads this many seconds before its watermark for late charges.
USAGE_AGGREGATION_INTERVAL = env.int("USAGE_AGGREGATION_INTERVAL", default=60)
USAGE_AGGREGATION_OVERLAP = env.int("USAGE_AGGREGATION_OVERLAP", default=120)
# Raw usage logs older than this many days are deleted (rollups stay); 0 keeps them for ever.
USAGE_LOG_RETENTION_DAYS = env.int("USAGE_LOG_RETENTION_DAYS", default=90)
# Statistics read the rollups (plus the raw tail); false reads raw logs only (the benchmark compares both).
USAGE_STATS_ROLLUPS = env.bool("USAGE_STATS_ROLLUPS", default=True)
# Seconds the admin statistics endpoints keep an answer (keyed by every filter).
USAGE_STATS_CACHE_TTL = env.int("USAGE_STATS_CACHE_TTL", default=30)
# Pool-mode accounts whose same-account retries all failed sit out this long (spec S3).
POOL_MODE_COOLDOWN_MINUTES = env.int("POOL_MODE_COOLDOWN_MINUTES", default=1)
POOL_MODE_RETRY_DELAY = env.float("POOL_MODE_RETRY_DELAY", default=0.5)
# Token refresh: transient failures retry with backoff BASE*2^(n-1) s; a failed refresh pauses the account.
TOKEN_REFRESH_MAX_RETRIES = env.int("TOKEN_REFRESH_MAX_RETRIES", default=3)
TOKEN_REFRESH_RETRY_BACKOFF = env.float("TOKEN_REFRESH_RETRY_BACKOFF", default=2.0)
TOKEN_REFRESH_FAILURE_COOLDOWN_MINUTES = env.int("TOKEN_REFRESH_FAILURE_COOLDOWN_MINUTES", default=10)
# At request time an OAuth token this close to expiry is refreshed before use.
TOKEN_REFRESH_AT_REQUEST_SKEW = env.int("TOKEN_REFRESH_AT_REQUEST_SKEW", default=180)
ALLOW_UNGROUPED_KEYS = env.bool("ALLOW_UNGROUPED_KEYS", default=False)
API_KEY_PREFIX = env("API_KEY_PREFIX", default="sk-")

# --- billing -------------------------------------------------------------------------------------
# Price per million tokens for a model that is in neither the shipped table nor the admin's.
FALLBACK_PRICE_MODEL = env("FALLBACK_PRICE_MODEL", default="claude-sonnet-4-5")
# Threads that apply charges on PostgreSQL (SQLite: one), each every charge waiting in one transaction;
# each holds a DB connection while charging.
CHARGE_WORKERS = env.int("CHARGE_WORKERS", default=8)

# --- Celery (production) -------------------------------------------------------------------------
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TIMEZONE = "UTC"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- admin (django-unfold) -----------------------------------------------------------------------
def _admin_static(path):
    from django.templatetags.static import static

    return lambda request: static(path)


UNFOLD = {
    "SITE_TITLE": "subrelay",
    "SITE_HEADER": "subrelay",
    "SITE_SYMBOL": "hub",
    "DASHBOARD_CALLBACK": "usage.dashboard.dashboard_callback",
    "SHOW_LANGUAGES": True,
    "SHOW_VIEW_ON_SITE": False,
    "STYLES": [_admin_static("subrelay/admin.css")],
    "LOGIN": {"form": "users.login.AdminLoginForm"},
    "SIDEBAR": {"show_search": True, "show_all_applications": True, "navigation": "config.sidebar.navigation"},
}
