"""The portal's one settings module: every value comes from the environment.

With no variables set the portal runs embedded: SQLite and files under
``DATA_DIR``, a file-system Celery broker (a worker process still does the
background work, off the request path), a file-based cache and console email.
Set ``DATABASE_URL``, ``REDIS_URL``, ``STORAGE=s3`` and ``EMAIL_URL`` for
production services. ``docs/deployment.md`` lists every variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


# -- typed helpers --------------------------------------------------------------------------


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def email_settings(url: str) -> dict[str, object]:
    """Translate ``EMAIL_URL`` into Django email settings.

    ``smtp://user:pass@host:port`` (``smtps://`` for implicit TLS, ``?tls=1`` for
    STARTTLS), ``console://``, ``file:///path``, ``locmem://``.
    """
    parsed = urlparse(url)
    scheme = parsed.scheme
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme == "locmem":
        return {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}
    if scheme == "file":
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
            "EMAIL_FILE_PATH": parsed.path or str(DATA_DIR / "mail"),
        }
    if scheme in {"smtp", "smtps"}:
        query = parse_qs(parsed.query)
        return {
            "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": parsed.hostname or "localhost",
            "EMAIL_PORT": parsed.port or (465 if scheme == "smtps" else 25),
            "EMAIL_HOST_USER": unquote(parsed.username or ""),
            "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
            "EMAIL_USE_SSL": scheme == "smtps",
            "EMAIL_USE_TLS": query.get("tls", ["0"])[0] in {"1", "true"},
            "EMAIL_TIMEOUT": 10,
        }
    raise ImproperlyConfigured(f"EMAIL_URL scheme {scheme!r} is not supported")


# -- core -------------------------------------------------------------------------------------

DEBUG = env_bool("DEBUG", False)
DATA_DIR = Path(env_str("DATA_DIR", str(BASE_DIR / "data"))).resolve()
# An embedded run (no SECRET_KEY set) keeps a random key in DATA_DIR so sessions
# survive restarts; production must set SECRET_KEY (check --deploy warns otherwise).
_secret = env_str("SECRET_KEY")
if not _secret:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    _key_file = DATA_DIR / "secret_key"
    if not _key_file.exists():
        import secrets

        _key_file.write_text(secrets.token_urlsafe(50))
        _key_file.chmod(0o600)
    _secret = _key_file.read_text().strip()
SECRET_KEY = _secret
# Secret for keyed pseudonyms (UIDs, patient IDs, date shifts). Never sent to a browser.
DEID_SECRET = env_str("DEID_SECRET", "") or f"deid:{SECRET_KEY}"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SITE_URL = env_str("SITE_URL", f"http://127.0.0.1:{env_int('PORTAL_PORT', 8000)}").rstrip("/")

INSTALLED_APPS = [
    "portal.admin_config.PortalAdminConfig",  # django.contrib.admin, logging in at /login/
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "portal.accounts",
    "portal.audit",
    "portal.apitokens",
    "uploads",
    "reports",
    "dicomweb",
    "pacs",
]

MIDDLEWARE = [
    "portal.middleware.server_timing",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",  # cookie, then Accept-Language
    "django.middleware.common.CommonMiddleware",
    "dicomweb.middleware.cors",  # /dicomweb/ only: CORS for DICOMWEB_CORS_ORIGINS
    "dicomweb.middleware.bearer_without_csrf",  # /dicomweb/ with Authorization: Bearer
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "portal.i18n.user_language",  # a signed-in user's saved language wins
    "django.contrib.messages.middleware.MessageMiddleware",
    "portal.accounts.middleware.session_limits",  # idle / absolute / ended sessions
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "portal.middleware.security_headers",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# -- database ---------------------------------------------------------------------------------

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'portal.sqlite3'}")
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # The embedded default serves a small practice with a web process and worker processes
    # writing at once: WAL lets readers go on beside the writer; IMMEDIATE transactions
    # take the write lock at BEGIN, so a transaction never fails half-way upgrading a read
    # lock ("database is locked" without waiting); the busy timeout makes writers queue.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": env_int("SQLITE_BUSY_SECONDS", 60),
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# -- cache, broker ----------------------------------------------------------------------------

REDIS_URL = env_str("REDIS_URL")
CACHES: dict[str, dict[str, object]]
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "portal.cache.PortalRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_KEY_PREFIX"),
        }
    }
else:
    # A file cache is shared by every process of an embedded run (runserver + worker).
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(DATA_DIR / "cache"),
            # Its bound: at this many entries a write removes a third of them (Django's
            # culling). Slice PNGs are about 65 KB; sessions fall back to the database.
            "OPTIONS": {"MAX_ENTRIES": env_int("CACHE_MAX_ENTRIES", 1000), "CULL_FREQUENCY": 3},
        }
    }
# Seconds a served slice PNG stays in the cache (the hot tier). In Redis its memory is
# bounded by Redis' maxmemory with volatile-lru (docs/deployment.md): entries with a
# lifetime are evicted first, the broker's queues (no lifetime) never.
SLICE_CACHE_SECONDS = env_int("SLICE_CACHE_SECONDS", 3600)
# Multiplanar reformat (uploads/viewer/volumes.py): each web worker process keeps the
# volumes of this many series in memory (least recently used first out; a 512x512x300 CT
# takes 150 MB), and refuses to build a volume of more than MPR_MAX_VOXELS voxels.
MPR_VOLUME_CACHE = env_int("MPR_VOLUME_CACHE", 3)
MPR_MAX_VOXELS = env_int("MPR_MAX_VOXELS", 512 * 512 * 1200)

CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if not REDIS_URL:
    # Embedded mode: kombu's file-system transport; `make run` starts a worker on it.
    _queue_dir = DATA_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(DATA_DIR / "celery-processed"),
        "control_folder": str(DATA_DIR / "celery-control"),
        "store_processed": False,
    }
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY", 3600)}
    # Every broker key (queues, acknowledgements, worker control) starts with it: portals,
    # or the processes of a parallel test run, that share one Redis database each keep
    # their own queues and workers.
    if _broker_prefix := env_str("CELERY_KEY_PREFIX"):
        CELERY_BROKER_TRANSPORT_OPTIONS["global_keyprefix"] = _broker_prefix
CELERY_RESULT_BACKEND = REDIS_URL or None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_SOFT_TIME_LIMIT", 300)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TIME_LIMIT", 360)
CELERY_TASK_SERIALIZER = "json"
# Celery's Django fix-up closes the database connection around every task, which costs
# a new PostgreSQL connection (several ms of CPU) per task. Keep it for this many tasks;
# in between, portal/celery.py drops broken or aged connections as Django does per request.
CELERY_DB_REUSE_MAX = env_int("CELERY_DB_REUSE_MAX", 500)
CELERY_RESULT_EXPIRES = 3600
# Re-queue uploads whose files lost their run, flag those that will not end on their own.
UPLOAD_WATCHDOG_SECONDS = env_int("UPLOAD_WATCHDOG_SECONDS", 60)
CELERY_BEAT_SCHEDULE = {
    "requeue-stale-upload-files": {
        "task": "uploads.tasks.requeue_stale_files",
        "schedule": float(UPLOAD_WATCHDOG_SECONDS),
    },
    "sweep-quarantine": {
        "task": "uploads.tasks.sweep_quarantine",
        "schedule": 3600.0,
    },
    "requeue-stale-report-emails": {
        "task": "reports.tasks.requeue_stale_deliveries",
        "schedule": 600.0,
    },
    "purge-expired-exports": {
        "task": "uploads.tasks_export.purge_expired_exports",
        "schedule": 3600.0,
    },
    "purge-unverified-accounts": {
        "task": "portal.accounts.tasks.purge_unverified_accounts",
        "schedule": 3600.0,
    },
}

# -- storage ----------------------------------------------------------------------------------

STORAGE = env_str("STORAGE", "local")
MEDIA_ROOT = env_str("MEDIA_ROOT", str(DATA_DIR / "files"))
STATIC_URL = "/static/"
STATIC_ROOT = str(DATA_DIR / "staticfiles")
STATICFILES_DIRS = [BASE_DIR / "static"]
_static_backend = (
    "whitenoise.storage.CompressedManifestStaticFilesStorage"
    if env_bool("STATIC_MANIFEST", not DEBUG and STORAGE == "s3")
    else "django.contrib.staticfiles.storage.StaticFilesStorage"
)
if STORAGE == "s3":
    _default_storage: dict[str, object] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET", "portal"),
            "endpoint_url": env_str("S3_ENDPOINT_URL") or None,
            "region_name": env_str("S3_REGION") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY") or None,
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
        },
    }
elif STORAGE == "local":
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
else:
    raise ImproperlyConfigured("STORAGE must be 'local' or 's3'")
STORAGES = {"default": _default_storage, "staticfiles": {"BACKEND": _static_backend}}

# -- uploads and de-identification ---------------------------------------------------------

# PS3.15 Annex E options (docs/deidentification.md), comma-separated option names.
DEID_OPTIONS = env_list(
    "DEID_OPTIONS",
    "retain_patient_characteristics,retain_longitudinal_modified_dates,clean_descriptors,"
    "retain_safe_private",
)
# The server's own UID root (a fixed 2.25 UUID arc): UIDs it issued are recognised on
# re-import and kept; the browser step uses the shared 2.25 root and is always remapped.
DEID_UID_ROOT = env_str("DEID_UID_ROOT", "2.25.171586514918853302742")
# Files the browser cannot de-identify may be sent for server-only de-identification.
DEID_ALLOW_SERVER_ONLY = env_bool("DEID_ALLOW_SERVER_ONLY", False)
# Find identifying text burned into the pixels of files that need review, mask it in
# every frame (PS3.15 E.3.1) and hold what is left for an admin (docs/burned-in-text.md).
DEID_CLEAN_PIXELS = env_bool("DEID_CLEAN_PIXELS", True)
# Lifetime of the per-image tokens the viewer's manifest hands out (uploads/viewer/slice_tokens.py).
SLICE_TOKEN_SECONDS = env_int("SLICE_TOKEN_SECONDS", 600)
UPLOAD_MAX_FILE_SIZE = env_int("UPLOAD_MAX_FILE_SIZE", 2 * 1024**3)
UPLOAD_MAX_FILES = env_int("UPLOAD_MAX_FILES", 20000)
UPLOAD_CHUNK_SIZE = env_int("UPLOAD_CHUNK_SIZE", 8 * 1024**2)
# Files up to the chunk size are sent several in one request, up to the chunk size in all.
UPLOAD_BATCH_FILES = env_int("UPLOAD_BATCH_FILES", 32)
USER_QUOTA_BYTES = env_int("USER_QUOTA_BYTES", 20 * 1024**3)
# A received file not processed after this long is sent to a worker again (> time limit).
INGEST_CLAIM_TIMEOUT = env_int("INGEST_CLAIM_TIMEOUT", CELERY_TASK_TIME_LIMIT + 30)
# Default-window slices pre-rendered per series when an upload is done (around the middle,
# where the viewer opens); the others render on demand.
# 0 switches pre-rendering off (thumbnails render on demand too).
PRERENDER_SLICES = env_int("PRERENDER_SLICES", 128)
# Pre-rendering gives way to ingest: while received files wait to be processed it puts
# itself back in the queue this many seconds later, at most this many times.
PRERENDER_DEFER_SECONDS = env_int("PRERENDER_DEFER_SECONDS", 30)
PRERENDER_MAX_DEFERS = env_int("PRERENDER_MAX_DEFERS", 10)
# An open upload with nothing to process and no activity this long: the sender went away
# before sending everything; it needs attention (the uploader can resume or send it as is).
UPLOAD_IDLE_SECONDS = env_int("UPLOAD_IDLE_SECONDS", 24 * 3600)
# Re-queues of an upload whose files keep losing their run before it needs attention.
UPLOAD_MAX_REQUEUES = env_int("UPLOAD_MAX_REQUEUES", 5)
# A worker takes up to this many received files of an upload in one run (one transaction).
INGEST_BATCH_SIZE = env_int("INGEST_BATCH_SIZE", 16)
# A file claimed this many times without a run finishing (it kills the worker, e.g. out of
# memory) is refused. Transient faults (database, storage) do not count.
INGEST_MAX_ATTEMPTS = env_int("INGEST_MAX_ATTEMPTS", 5)
# How many workers may ingest one upload at once (uploads/intake/tasks.py).
INGEST_PARALLEL = env_int("INGEST_PARALLEL", 2)
# The DICOM receiver (`manage.py dicom_receiver`, uploads/intake/receiver.py): a PACS pushes
# studies to it with C-STORE; they are ingested like uploads.
DICOM_AE_TITLE = env_str("DICOM_AE_TITLE", "PORTAL")
# Loopback unless configured: DICOM has no authentication.
DICOM_BIND = env_str("DICOM_BIND", "127.0.0.1")
DICOM_PORT = env_int("DICOM_PORT", 11112)
# Who may push, and for which account: "AE_TITLE@host=email" entries, comma-separated
# (host: an IP address or a name resolved at start). Required when DICOM_BIND is not a
# loopback address; without it only senders on this machine, for DICOM_RECEIVER_OWNER.
DICOM_PEERS = env_list("DICOM_PEERS")
DICOM_RECEIVER_OWNER = env_str("DICOM_RECEIVER_OWNER")
# Imports from a PACS (pacs/, docs/pacs.md): the portal calls the PACS (C-FIND, C-GET) with
# this calling AE title, which the PACS must know; timeouts in seconds (connecting, then
# silence on an association); studies retrieved at once; most studies one query may match;
# time limit of the import task (a run takes no new study after 80 % of it and queues the
# next run); retries of a run that met a fault worth retrying (PACS away, database down).
PACS_AE_TITLE = env_str("PACS_AE_TITLE", DICOM_AE_TITLE)
PACS_CONNECT_TIMEOUT = env_int("PACS_CONNECT_TIMEOUT", 10)
PACS_TIMEOUT = env_int("PACS_TIMEOUT", 60)
PACS_JOBS = env_int("PACS_JOBS", 2)
PACS_MAX_STUDIES = env_int("PACS_MAX_STUDIES", 5000)
PACS_TIME_LIMIT = env_int("PACS_TIME_LIMIT", 3600)
PACS_MAX_RETRIES = env_int("PACS_MAX_RETRIES", 5)
# Fault-injection tests only: seconds each ingest sleeps, so a worker can be killed mid-batch.

# -- share links and exports ---------------------------------------------------------------

SHARE_LINK_DEFAULT_DAYS = env_int("SHARE_LINK_DEFAULT_DAYS", 14)
SHARE_LINK_MAX_DAYS = env_int("SHARE_LINK_MAX_DAYS", 90)
# Failed attempts per client IP (unknown tokens, wrong passcodes on any link), and wrong
# passcodes per (link, client IP): never per link alone (uploads/sharing/links.py).
SHARE_LINK_MAX_FAILURES = env_int("SHARE_LINK_MAX_FAILURES", 10)
SHARE_PASSCODE_MAX_FAILURES = env_int("SHARE_PASSCODE_MAX_FAILURES", 5)
SHARE_LINK_LOCKOUT_SECONDS = env_int("SHARE_LINK_LOCKOUT_SECONDS", 900)
EXPORT_LINK_HOURS = env_int("EXPORT_LINK_HOURS", 24)
EXPORT_TIME_LIMIT = env_int("EXPORT_TIME_LIMIT", 3600)

# -- personal API tokens and DICOMweb (portal/apitokens, dicomweb/) -------------------------

API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 90)
API_TOKEN_MAX_DAYS = env_int("API_TOKEN_MAX_DAYS", 365)
# Origins (scheme://host[:port]) of a separately hosted viewer (OHIF) that may call
# /dicomweb/ from a browser with a token; empty: no cross-origin access.
DICOMWEB_CORS_ORIGINS = env_list("DICOMWEB_CORS_ORIGINS")
# QIDO-RS: most results one query answers (a client pages with limit/offset).
DICOMWEB_QIDO_MAX_RESULTS = env_int("DICOMWEB_QIDO_MAX_RESULTS", 1000)
# STOW-RS: largest request body, and how long a request waits for the ingest
# (de-identification) before it answers 202 with the instances still in the pipeline.
DICOMWEB_STOW_MAX_BYTES = env_int("DICOMWEB_STOW_MAX_BYTES", 256 * 1024 * 1024)
DICOMWEB_STOW_WAIT_SECONDS = env_int("DICOMWEB_STOW_WAIT_SECONDS", 30)

# -- reporting (reports/conf.py) ------------------------------------------------------------

REPORT_TURNAROUND_HOURS = env_int("REPORT_TURNAROUND_HOURS", 72)
REPORT_EMAIL_ATTACH_PDF = env_bool("REPORT_EMAIL_ATTACH_PDF", False)
REPORT_EMAIL_MAX_RETRIES = env_int("REPORT_EMAIL_MAX_RETRIES", 6)
REPORT_EMAIL_RETRY_DELAY = env_int("REPORT_EMAIL_RETRY_DELAY", 60)

# -- email ------------------------------------------------------------------------------------

EMAIL_URL = env_str("EMAIL_URL", "console://")
globals().update(email_settings(EMAIL_URL))
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "DICOM Portal <no-reply@localhost>")

# -- accounts ---------------------------------------------------------------------------------

AUTH_USER_MODEL = "accounts.User"
# Sessions are read from the cache (Redis) and written through to the database; when the
# cache is down the database copy is used (portal/sessions.py).
SESSION_ENGINE = "portal.sessions"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)
LOGIN_MAX_FAILURES = env_int("LOGIN_MAX_FAILURES", 5)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 15 * 60)
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", True)
# Rate limits ("N/second|minute|hour|day"; "0" switches one off): portal/ratelimit.py.
SIGNUP_RATE = env_str("SIGNUP_RATE", "10/hour")  # per client IP
# Emails about an account (password reset, "you already have an account") per address,
# and password-reset requests per client IP.
ACCOUNT_EMAIL_RATE = env_str("ACCOUNT_EMAIL_RATE", "3/hour")
PASSWORD_RESET_IP_RATE = env_str("PASSWORD_RESET_IP_RATE", "20/hour")
UPLOAD_CREATE_RATE = env_str("UPLOAD_CREATE_RATE", "60/hour")  # per uploader
# The upload page's OCR preview of flagged images (uploads/intake/text_preview.py): per
# uploader, and the largest preview read (bytes of the request; pixels on the long side).
TEXT_PREVIEW_RATE = env_str("TEXT_PREVIEW_RATE", "200/hour")
TEXT_PREVIEW_MAX_BYTES = env_int("TEXT_PREVIEW_MAX_BYTES", 2 * 1024 * 1024)
TEXT_PREVIEW_MAX_SIDE = env_int("TEXT_PREVIEW_MAX_SIDE", 640)

# OpenID Connect sign-in (portal/accounts/oidc.py; providers: docs/deployment.md). Off while
# OIDC_ISSUER is empty: no button on the login page, its routes answer 404.
OIDC_ISSUER = env_str("OIDC_ISSUER").rstrip("/")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
OIDC_CLIENT_SECRET = env_str("OIDC_CLIENT_SECRET")
OIDC_PROVIDER_NAME = env_str("OIDC_PROVIDER_NAME", "single sign-on")  # "Sign in with …"
OIDC_SCOPES = env_str("OIDC_SCOPES", "openid email profile")
# The ID token claim that names groups or roles (a list or a string; "a.b" for a nested
# one); empty: no role mapping, linked accounts keep their portal role.
OIDC_ROLE_CLAIM = env_str("OIDC_ROLE_CLAIM")
OIDC_ADMIN_VALUES = env_list("OIDC_ADMIN_VALUES")
OIDC_RADIOLOGIST_VALUES = env_list("OIDC_RADIOLOGIST_VALUES")
# Who gets a new account on a first sign-in: "patients" (with a verified email and no staff
# claim) or "none" (invitation only). Staff accounts are never created from a claim.
OIDC_SIGNUP = env_str("OIDC_SIGNUP", "none")
# The claim saying the provider verified the email (Entra ID: see docs/deployment.md).
OIDC_EMAIL_VERIFIED_CLAIM = env_str("OIDC_EMAIL_VERIFIED_CLAIM", "email_verified")
if OIDC_SIGNUP not in {"patients", "none"}:
    raise ImproperlyConfigured(f"OIDC_SIGNUP must be 'patients' or 'none', got {OIDC_SIGNUP!r}")
if OIDC_ISSUER and not OIDC_CLIENT_ID:
    raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_ID is needed too")
# -- sign-in: second factor, sessions, re-authentication (portal/accounts/) ----------------

# Roles that must use a second factor (TOTP, portal/accounts/mfa.py); others may.
MFA_REQUIRED_ROLES = env_list("MFA_REQUIRED_ROLES", "radiologist,admin")
MFA_ISSUER = env_str("MFA_ISSUER", "DICOM Portal")  # the name authenticator apps show
MFA_PENDING_SECONDS = 600  # between the password and the code (or enrolment)
# Sessions end after this long without a request, and this long after sign-in, per role.
_IDLE_MINUTES = {"patient": 60, "radiologist": 30, "admin": 30}
_MAX_HOURS = {"patient": 168, "radiologist": 12, "admin": 12}
SESSION_IDLE_SECONDS = {
    "patient": env_int("SESSION_IDLE_MINUTES_PATIENT", _IDLE_MINUTES["patient"]) * 60,
    "radiologist": env_int("SESSION_IDLE_MINUTES_RADIOLOGIST", _IDLE_MINUTES["radiologist"]) * 60,
    "admin": env_int("SESSION_IDLE_MINUTES_ADMIN", _IDLE_MINUTES["admin"]) * 60,
}
SESSION_MAX_SECONDS = {
    "patient": env_int("SESSION_MAX_HOURS_PATIENT", _MAX_HOURS["patient"]) * 3600,
    "radiologist": env_int("SESSION_MAX_HOURS_RADIOLOGIST", _MAX_HOURS["radiologist"]) * 3600,
    "admin": env_int("SESSION_MAX_HOURS_ADMIN", _MAX_HOURS["admin"]) * 3600,
}
# Role changes, API tokens and exports ask for the password (and code) again when the last
# sign-in or confirmation is older than this (portal/accounts/decorators.py).
REAUTH_SECONDS = env_int("REAUTH_MINUTES", 10) * 60

# -- security ---------------------------------------------------------------------------------

SECURE = env_bool("SECURE", not DEBUG and SITE_URL.startswith("https://"))
SESSION_COOKIE_SECURE = SECURE
CSRF_COOKIE_SECURE = SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SECURE_SSL_REDIRECT = SECURE and env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if SECURE else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE
SECURE_HSTS_PRELOAD = SECURE
SECURE_PROXY_SSL_HEADER = (
    ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_PROXY", False) else None
)
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 16 * 1024 * 1024)

# -- i18n -------------------------------------------------------------------------------------

# English, Dutch (the Flemish patients) and French; docs/i18n.md. The default is for a
# visitor whose browser asks for none of them (Accept-Language) and for emails to users
# who never chose one.
LANGUAGES = [("en", "English"), ("nl", "Nederlands"), ("fr", "Français")]
LANGUAGE_CODE = env_str("LANGUAGE_CODE", "en")
if LANGUAGE_CODE not in {code for code, _ in LANGUAGES}:
    LANGUAGE_CODE = "en"
LOCALE_PATHS = [BASE_DIR / "locale"]
# An anonymous visitor's choice (the switcher): a year, first-party, readable by no script.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_SECURE = SECURE
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

# -- logging: never PHI; messages name ids and keywords, not values -------------------------

# Nor tokens: share links, slice tokens and emailed links are masked (portal/redact.py) on
# Django's loggers that name URLs (at the source, whatever handler records them) and on
# every handler configured here; gunicorn's logs: portal/gunicorn_conf.py.
_REDACT = ["redact_tokens"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_tokens": {"()": "portal.redact.RedactTokens"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s [%(process)d] %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": _REDACT},
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": _REDACT,
        },
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # Authlib's debug lines name PKCE verifiers: never below INFO.
        "authlib": {"level": "INFO"},
        # pynetdicom logs whole C-FIND identifiers and C-STORE headers (patient data) at
        # INFO and DEBUG: only its warnings and errors (rejections, aborts) are kept.
        "pynetdicom": {"level": "WARNING"},
        # highdicom names the UIDs of every dataset it copies from at INFO: warnings only.
        "highdicom": {"level": "WARNING"},
        "django.request": {"filters": _REDACT},
        "django.security.csrf": {"filters": _REDACT},
        "django.server": {
            "handlers": ["django.server"],
            "level": "INFO",
            "propagate": False,
            "filters": _REDACT,
        },
    },
}

# WhiteNoise serves static files in every mode; with finders it needs no collectstatic.
WHITENOISE_USE_FINDERS = _static_backend.startswith("django.")
Path(STATIC_ROOT).mkdir(parents=True, exist_ok=True)
