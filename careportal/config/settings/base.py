"""Settings for every environment, read from environment variables with safe defaults.

`CAREPORTAL_ENV` picks the mode: `development` (the default, for `make run`) or `production`. Production refuses
to start without a secret key, allowed hosts and a database URL, and with DEBUG on; development fills in local-only
values so that a newcomer needs no set-up at all. Every variable is described in docs/configuration.md.
"""

import datetime
from pathlib import Path

import django.forms
import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parents[3]

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

CAREPORTAL_ENV = env.str("CAREPORTAL_ENV", default="development")
if CAREPORTAL_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("CAREPORTAL_ENV must be development, production or test")
IS_PRODUCTION = CAREPORTAL_ENV == "production"

DEBUG = env.bool("DEBUG", default=False)
if IS_PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG cannot be on in production")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if IS_PRODUCTION:
        raise ImproperlyConfigured("Set SECRET_KEY: production refuses to start without one")
    # A development-only key; it signs nothing that leaves this machine.
    SECRET_KEY = "development-only-not-secret-" + "x" * 40

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["127.0.0.1", "localhost"])
if IS_PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("Set ALLOWED_HOSTS: production refuses to start without it")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
CSRF_FAILURE_VIEW = "careportal.core.views.csrf_failure"

# The name the portal shows in its header, titles and emails; each trust sets its own.
CAREPORTAL_SERVICE_NAME = env.str("CAREPORTAL_SERVICE_NAME", default="CarePortal")
CAREPORTAL_TRUST_NAME = env.str("CAREPORTAL_TRUST_NAME", default="Demo Hospitals NHS Foundation Trust")
CAREPORTAL_HELPDESK_PHONE = env.str("CAREPORTAL_HELPDESK_PHONE", default="020 7946 0000")
CAREPORTAL_HELPDESK_EMAIL = env.str("CAREPORTAL_HELPDESK_EMAIL", default="portal.helpdesk@example.nhs.uk")
CAREPORTAL_HELPDESK_HOURS = env.str("CAREPORTAL_HELPDESK_HOURS", default="Monday to Friday, 8am to 6pm")
# The helpdesk's target for answering a request from the Get help page, in working days (Monday to Friday).
CAREPORTAL_HELPDESK_RESPONSE_TARGET_DAYS = env.int("CAREPORTAL_HELPDESK_RESPONSE_TARGET_DAYS", default=2)
# Requests for help accepted from one IP address per hour, against floods and scripts.
CAREPORTAL_SUPPORT_REQUESTS_PER_HOUR = env.int("CAREPORTAL_SUPPORT_REQUESTS_PER_HOUR", default=5)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_structlog",
    "django_tasks",
    "django_tasks_db",
    "health_check",
    "careportal.core",
    "careportal.accounts",
    "careportal.patients",
    "careportal.proxy",
    "careportal.audit",
    "careportal.access",
    "careportal.home",
    "careportal.staff",
    "careportal.notifications",
    "careportal.helpdesk",
    "careportal.results",
    "careportal.hl7",
    "careportal.messaging",
    "careportal.appointments",
    "careportal.video",
    "careportal.letters",
    "careportal.fhir",
    "oauth2_provider",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "axes",
]
if not IS_PRODUCTION:
    # Demo personas and seed data exist only outside production.
    INSTALLED_APPS.append("careportal.demo")

MIDDLEWARE = [
    # First: every later layer (rate limits, lockouts, audit, logs) must see the client's address, not the proxy's.
    "careportal.core.middleware.ForwardedClientIPMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django_permissions_policy.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # allauth's UserSessionsMiddleware, writing "last seen" once a minute rather than on every request.
    "careportal.accounts.middleware.UserSessionActivityMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # After MessageMiddleware: it tells the person why they were signed out.
    "careportal.accounts.middleware.IdleTimeoutMiddleware",
    "careportal.accounts.middleware.ReauthenticationNewSessionIdMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "django_structlog.middlewares.RequestMiddleware",
    "careportal.core.middleware.NoStoreForSignedInMiddleware",
    # Last, as django-axes asks: it turns a lockout raised during authentication into our lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "careportal.config.urls"
WSGI_APPLICATION = "careportal.config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.jinja2.Jinja2",
        # Django's own Jinja2 widget templates, which the form renderer needs for forms that are not drawn with the
        # NHS.UK macros (the Django admin's change forms and inlines).
        "DIRS": [Path(django.forms.__file__).resolve().parent / "jinja2"],
        "APP_DIRS": True,
        "OPTIONS": {"environment": "careportal.config.jinja2_env.environment"},
    },
    {
        # The Django admin and django-health-check's own page use Django templates.
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [Path(django.forms.__file__).resolve().parent / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    },
]
FORM_RENDERER = "careportal.core.forms.NHSFormRenderer"

if IS_PRODUCTION and not env.str("DATABASE_URL", default=""):
    # A production database is chosen on purpose (PostgreSQL, or a SQLite file on a local disk), never by default.
    raise ImproperlyConfigured("Set DATABASE_URL: production refuses to start without one")
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'careportal.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server, the task worker and the HL7 listener share one file without "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
    )
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # Statements sent with their parameters apart (careportal/core/bulk_sql.py server_binding_cursor: the audit
    # write, the compiled queries of careportal/core/compiled_queries.py) are prepared on a connection's fifth use,
    # so PostgreSQL stops planning them; Django turns this off by default for connection poolers. Set it off behind
    # PgBouncer in transaction mode older than 1.21 (docs/deployment.md). The ORM's own queries are never prepared.
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("prepare_threshold", 5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home:home"
LOGOUT_REDIRECT_URL = "home:start"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = "Europe/London"
USE_I18N = True
USE_TZ = True

# Whose national bank holidays are not working days (results release, reply-by dates): england, wales, scotland or
# northern-ireland. Computed for any year by the `holidays` package; local closures are kept by staff.
BANK_HOLIDAY_REGION = env.str("BANK_HOLIDAY_REGION", default="england").strip().lower()
if BANK_HOLIDAY_REGION not in {"england", "wales", "scotland", "northern-ireland"}:
    raise ImproperlyConfigured(
        "BANK_HOLIDAY_REGION must be one of england, wales, scotland or northern-ireland "
        f"(it is {BANK_HOLIDAY_REGION!r})"
    )

STATIC_URL = "/static/"
# Where `collectstatic` writes the hashed, compressed files that whitenoise serves in production.
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
NODE_MODULES = BASE_DIR / "node_modules"
STATICFILES_DIRS = [
    ("nhsuk", NODE_MODULES / "nhsuk-frontend" / "dist" / "nhsuk"),
    ("htmx", NODE_MODULES / "htmx.org" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "careportal.core.storage.StaticStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# In development whitenoise serves straight from the finders, so `make run` needs no collectstatic.
WHITENOISE_USE_FINDERS = not IS_PRODUCTION
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "var" / "media")

# Sessions and cookies: secure by default; development over plain http relaxes only the Secure flag.
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=IS_PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=60 * 60 * 12)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Sessions live in the database by default, so every web process on every machine sees every sign-in;
# "cached_db" also keeps them in the shared cache (CACHE_URL, e.g. Redis), saving a query on each request.
_SESSION_STORES = {
    "db": "django.contrib.sessions.backends.db",
    "cached_db": "django.contrib.sessions.backends.cached_db",
}
SESSION_STORE = env.str("SESSION_STORE", default="db")
if SESSION_STORE not in _SESSION_STORES:
    raise ImproperlyConfigured(f"SESSION_STORE must be db or cached_db (it is {SESSION_STORE!r})")
SESSION_ENGINE = _SESSION_STORES[SESSION_STORE]

# Behind a reverse proxy (docs/deployment.md): how many proxies of our own append to X-Forwarded-For, so that the
# client's address is the entry that many from the right (careportal.core.middleware.ForwardedClientIPMiddleware).
# 0, the default, ignores the header: without a proxy in front, a client could write anything in it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more")
# Request logs (django-structlog, through django-ipware) read the same address as everything else.
IPWARE_META_PRECEDENCE_ORDER = ("REMOTE_ADDR",)
# Take the host name from the proxy's X-Forwarded-Host rather than Host; only for a proxy that sets it itself.
USE_X_FORWARDED_HOST = env.bool("USE_X_FORWARDED_HOST", default=False)
if IS_PRODUCTION:
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # Load balancers probe /health/ over plain http inside the network; everything else is redirected to https.
    SECURE_REDIRECT_EXEMPT = [r"^health/$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=60 * 60 * 24 * 365)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    # "preload" consents to browsers' built-in HTTPS-only lists; it takes effect only when the owner of the
    # registrable domain submits it (see docs/configuration.md). `check --deploy` warns when it is off.
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)

# Content Security Policy (django-csp 4): scripts only from this site or with the per-request nonce. Fonts only from
# this site: the NHS.UK stylesheet asks for Frutiger from assets.nhs.uk, which would tell a third party about every
# page view; browsers fall back to Arial, as the NHS.UK font stack intends.
from csp.constants import NONCE  # noqa: E402

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'", NONCE],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
        "base-uri": ["'self'"],
        "object-src": ["'none'"],
    }
}

# Permissions-Policy (django-permissions-policy): every powerful browser feature off, but the camera and microphone
# for this site's own pages (the video-visit camera check) and passkeys (WebAuthn) for this site.
PERMISSIONS_POLICY: dict[str, list[str]] = {
    "accelerometer": [],
    "autoplay": [],
    "browsing-topics": [],
    "camera": ["self"],
    "display-capture": [],
    "encrypted-media": [],
    "geolocation": [],
    "gyroscope": [],
    "magnetometer": [],
    "microphone": ["self"],
    "midi": [],
    "payment": [],
    "publickey-credentials-create": ["self"],
    "publickey-credentials-get": ["self"],
    "screen-wake-lock": [],
    "serial": [],
    "usb": [],
    "xr-spatial-tracking": [],
}

# Email: console in development, SMTP in production (see docs/configuration.md).
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://" if not IS_PRODUCTION else "smtp://localhost:25")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="CarePortal <no-reply@careportal.example.nhs.uk>")

# Background tasks: Django's tasks API (the django-tasks backport) on the database; `manage.py db_worker` runs them.
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "notifications", "hl7"],
    }
}
# Finished task results (and their tracebacks) are deleted this many days after they finish (careportal.core.jobs).
CAREPORTAL_TASK_RESULT_RETENTION_DAYS = env.int("CAREPORTAL_TASK_RESULT_RETENTION_DAYS", default=14)

# The cache holds counters that must be the same for every web process: sign-in rate limits (allauth), the
# activation, recovery and two-step code throttles (careportal/core/throttle.py) and used authenticator-app codes
# (so one cannot be replayed). A cache inside each process would let each of N processes count on its own, so
# production defaults to a table in the database, which every process on every machine shares (`migrate` creates
# it); Redis (redis://host:6379/1) takes that load off the database for a large trust. Development runs one web
# process, so its cache stays in memory.
CACHES = {
    "default": env.cache("CACHE_URL", default="dbcache://careportal_cache" if IS_PRODUCTION else "locmemcache://")
}

# Python's cyclic garbage collector: a young-generation pass every this many allocations (Python's default is 700,
# which cost the HL7 backfill a third of its CPU); 0 keeps Python's defaults. careportal/core/gc_tuning.py.
GC_GENERATION0_THRESHOLD = env.int("GC_GENERATION0_THRESHOLD", default=10_000)
if GC_GENERATION0_THRESHOLD < 0:
    raise ImproperlyConfigured("GC_GENERATION0_THRESHOLD must be 0 (Python's defaults) or more")

# Logs: structlog, one JSON object per line in production, readable lines in development. django-structlog adds a
# request_id to every line of a request. No patient data is ever passed to a logger (tests/core/test_logging.py).
from careportal.core.logging import build_logging_config  # noqa: E402

LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if IS_PRODUCTION else "console")
LOGGING = build_logging_config(level=LOG_LEVEL, log_format=LOG_FORMAT)
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = True
DJANGO_STRUCTLOG_USER_ID_FIELD = "pk"

# How long an audited "who viewed your record" entry is shown to the patient (years); the rows are never deleted.
CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS = env.int("CAREPORTAL_AUDIT_PATIENT_VIEW_YEARS", default=8)
# The audit chain (careportal/audit/chain.py, docs/access-and-audit.md): events are sealed into a hash chain once
# they are this many seconds old (the margin covers transactions still committing and clocks that differ a little
# between servers), at most this many events per seal.
AUDIT_SEAL_MARGIN_SECONDS = env.int("AUDIT_SEAL_MARGIN_SECONDS", default=60)
AUDIT_SEAL_MAX_EVENTS = env.int("AUDIT_SEAL_MAX_EVENTS", default=10_000)
# With a key, seals are HMAC-SHA256: someone who can write to the database cannot recompute them. Blank: plain
# SHA-256, which anyone with write access and this source code can recompute (see the docs for the trade-off).
# Old keys (comma-separated) keep seals made before a key change checkable.
AUDIT_CHAIN_KEY = env.str("AUDIT_CHAIN_KEY", default="")
AUDIT_CHAIN_OLD_KEYS = env.list("AUDIT_CHAIN_OLD_KEYS", default=[])
if AUDIT_CHAIN_KEY and len(AUDIT_CHAIN_KEY) < 32:
    raise ImproperlyConfigured("AUDIT_CHAIN_KEY must be at least 32 characters long")


# Identity (docs/configuration.md, "Sign-in and two-step verification") ------------------------------------------
# django-allauth does sign-in, the emailed sign-in code, authenticator apps, passkeys, recovery codes, trusted
# devices and the session list; we render its pages with our Jinja templates (ACCOUNT_TEMPLATE_EXTENSION).
AUTHENTICATION_BACKENDS = [
    # django-axes first: it refuses a locked-out username+IP before any password is hashed.
    "axes.backends.AxesStandaloneBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
ACCOUNT_ADAPTER = "careportal.accounts.adapter.AccountAdapter"
ACCOUNT_FORMS = {"login": "careportal.accounts.forms.SignInForm"}
MFA_ADAPTER = "careportal.accounts.adapter.MFAAdapter"
ACCOUNT_TEMPLATE_EXTENSION = "jinja"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = "username"
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = False
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGOUT_ON_GET = False
ACCOUNT_USERNAME_MIN_LENGTH = 4
ACCOUNT_PASSWORD_INPUT_RENDER_VALUE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_REAUTHENTICATION_TIMEOUT = 5 * 60
# The emailed 6-digit code: the second step after the password for those who chose it, and for all staff without
# an authenticator app or passkey (careportal/accounts/adapter.py decides who).
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_REQUIRED = True
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = env.int("CAREPORTAL_SIGN_IN_CODE_SECONDS", default=10 * 60)
# Wrong two-step codes at sign-in (emailed, authenticator-app or recovery codes) are counted per account across
# codes: this many within the pause time of the first pause the account's codes until that time is up; no new code
# is sent meanwhile (careportal/accounts/two_step_limit.py; docs/identity.md, "Guessing codes").
CAREPORTAL_TWO_STEP_CODE_FAILURES = env.int("CAREPORTAL_TWO_STEP_CODE_FAILURES", default=5)
CAREPORTAL_TWO_STEP_CODE_PAUSE_MINUTES = env.int("CAREPORTAL_TWO_STEP_CODE_PAUSE_MINUTES", default=30)
# allauth's own limit for one emailed code: the same number, so the account's limit is the one people meet.
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = CAREPORTAL_TWO_STEP_CODE_FAILURES
ACCOUNT_LOGIN_BY_CODE_FORMAT = {"numeric": True, "length": 6, "dashed": False}
ACCOUNT_LOGIN_BY_CODE_TRUST_ENABLED = True
ACCOUNT_RATE_LIMITS = {
    # Per-IP flood protection stays with allauth; per-account lockout is django-axes's (username + IP, so an
    # attacker elsewhere cannot lock a patient out), so allauth's failures are counted per address only, never per
    # account. Both limits answer before the password hasher runs: credential stuffing from one address reaches it
    # at most 10 times a minute and 100 times an hour. A trust whose users sign in from behind one shared address
    # (a hospital network) may raise CAREPORTAL_SIGN_IN_FAILURES_PER_ADDRESS (docs/configuration.md).
    "login": "30/m/ip",
    "login_failed": env.str("CAREPORTAL_SIGN_IN_FAILURES_PER_ADDRESS", default="10/m/ip,100/h/ip"),
    "request_login_code": "20/m/ip,3/m/key",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "reauthenticate": "10/m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "webauthn", "recovery_codes"]
MFA_PASSKEY_LOGIN_ENABLED = False
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = not IS_PRODUCTION
MFA_TOTP_ISSUER = CAREPORTAL_SERVICE_NAME
MFA_TRUST_ENABLED = True
MFA_TRUST_COOKIE_AGE = datetime.timedelta(days=90)
MFA_TRUST_COOKIE_SECURE = SESSION_COOKIE_SECURE
MFA_TRUST_COOKIE_SAMESITE = "Lax"
MFA_RECOVERY_CODE_COUNT = 10
# Wrong authenticator-app or recovery codes at sign-in count towards CAREPORTAL_TWO_STEP_CODE_FAILURES (allauth's own
# limit for them is "login_failed", switched off above): careportal/accounts/security_forms.py.
MFA_FORMS = {"authenticate": "careportal.accounts.security_forms.TwoStepCodeForm"}
USERSESSIONS_TRACK_ACTIVITY = True

# django-axes: lock a username at one address after repeated failures; the helpdesk can unlock it.
AXES_FAILURE_LIMIT = env.int("CAREPORTAL_LOCKOUT_FAILURES", default=5)
AXES_COOLOFF_TIME = datetime.timedelta(minutes=env.int("CAREPORTAL_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "careportal.accounts.views.signin.locked_out"
AXES_USERNAME_FORM_FIELD = "login"
AXES_USERNAME_CALLABLE = "careportal.accounts.lockout.lockout_username"
AXES_ENABLE_ACCESS_FAILURE_LOG = False
AXES_VERBOSE = False
AXES_SENSITIVE_PARAMETERS = ["password", "login", "username"]

# Sessions: 15 minutes idle with a warning two minutes before; an absolute lifetime whatever the activity.
CAREPORTAL_IDLE_TIMEOUT_SECONDS = env.int("CAREPORTAL_IDLE_TIMEOUT_SECONDS", default=15 * 60)
CAREPORTAL_IDLE_WARNING_SECONDS = env.int("CAREPORTAL_IDLE_WARNING_SECONDS", default=2 * 60)
CAREPORTAL_SESSION_ABSOLUTE_SECONDS = env.int("CAREPORTAL_SESSION_ABSOLUTE_SECONDS", default=12 * 60 * 60)

# Activation codes and security questions.
CAREPORTAL_ACTIVATION_CODE_DAYS = env.int("CAREPORTAL_ACTIVATION_CODE_DAYS", default=60)
# Wrong tries before a code stops working (the helpdesk then issues a new one), and failed tries from one IP address
# in an hour before activation pauses there (docs/identity.md, "Activation").
CAREPORTAL_ACTIVATION_CODE_MAX_ATTEMPTS = env.int("CAREPORTAL_ACTIVATION_CODE_MAX_ATTEMPTS", default=5)
CAREPORTAL_ACTIVATION_IP_ATTEMPTS_PER_HOUR = env.int("CAREPORTAL_ACTIVATION_IP_ATTEMPTS_PER_HOUR", default=10)

# Account recovery (careportal/accounts/recovery.py; docs/identity.md, "Recovery"): attempts counted in the cache per
# account (or email address) and per IP address over the window; over a limit the pages look the same, nothing is sent.
CAREPORTAL_RECOVERY_WINDOW_MINUTES = env.int("CAREPORTAL_RECOVERY_WINDOW_MINUTES", default=60)
CAREPORTAL_RECOVERY_ATTEMPTS_PER_ACCOUNT = env.int("CAREPORTAL_RECOVERY_ATTEMPTS_PER_ACCOUNT", default=5)
CAREPORTAL_RECOVERY_ATTEMPTS_PER_IP = env.int("CAREPORTAL_RECOVERY_ATTEMPTS_PER_IP", default=30)

# Applications to act for someone (careportal/proxy/application_services.py; docs/proxy-access-helpdesk.md): failed
# patient look-ups in an hour, per account and per IP address, before the form stops checking for the rest of the hour.
CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_ACCOUNT = env.int("CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_ACCOUNT", default=5)
CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_IP = env.int("CAREPORTAL_PROXY_LOOKUP_FAILURES_PER_IP", default=20)

# Notifications: "django" sends email through EMAIL_URL; "notify" uses GOV.UK Notify.
NOTIFICATIONS_BACKEND = env.str("NOTIFICATIONS_BACKEND", default="django")
NOTIFY_API_KEY = env.str("NOTIFY_API_KEY", default="")
NOTIFY_BASE_URL = env.str("NOTIFY_BASE_URL", default="")
NOTIFY_TIMEOUT_SECONDS = env.int("NOTIFY_TIMEOUT_SECONDS", default=10)
# One template id per kind of message: NOTIFY_TEMPLATE_IDS="sign_in_code=uuid,password_reset=uuid,..."
NOTIFY_TEMPLATE_IDS = env.dict("NOTIFY_TEMPLATE_IDS", default={})
if IS_PRODUCTION and NOTIFICATIONS_BACKEND == "notify" and not NOTIFY_API_KEY:
    raise ImproperlyConfigured("Set NOTIFY_API_KEY to send notifications through GOV.UK Notify")


# HL7 listener (`manage.py hl7_listen`; docs/configuration.md, "HL7 listener") -----------------------------------
HL7_LISTEN_HOST = env.str("HL7_LISTEN_HOST", default="127.0.0.1")
HL7_LISTEN_PORT = env.int("HL7_LISTEN_PORT", default=2575)
# A frame larger than this is read to its end without being held in memory, kept (its first 64 KiB) as a rejected
# message, and answered with AR. Lab reports are a few KB; letters with an embedded PDF can reach a few hundred.
HL7_MAX_MESSAGE_BYTES = env.int("HL7_MAX_MESSAGE_BYTES", default=2 * 1024 * 1024)
# A message whose control id (MSH-10) its sender used before for a message with OTHER content (docs/hl7.md,
# "Duplicates and control ids"): "apply" it as the new message it is (AA), or answer "error" (AE) and keep it for
# staff. Either way it is stored and listed for staff to check, never dropped. "apply" by default: interface engines
# reset their counters when restarted, and a result never reaching the patient's record is the worse harm.
HL7_CONTROL_ID_REUSE = env.str("HL7_CONTROL_ID_REUSE", default="apply")
if HL7_CONTROL_ID_REUSE not in ("apply", "error"):
    raise ImproperlyConfigured("HL7_CONTROL_ID_REUSE must be apply or error")
# Senders keep one connection open all day and may be quiet for long stretches: only close it after this long with
# nothing received, to reclaim connections whose peer has gone. Once a frame has started, each read (and the write
# of its ACK) must come within the much shorter frame time-out, so a stalled sender cannot hold a connection slot.
HL7_IDLE_TIMEOUT_SECONDS = env.float("HL7_IDLE_TIMEOUT_SECONDS", default=30 * 60)
HL7_FRAME_TIMEOUT_SECONDS = env.float("HL7_FRAME_TIMEOUT_SECONDS", default=30)
HL7_MAX_CONNECTIONS = env.int("HL7_MAX_CONNECTIONS", default=100)
# Threads applying messages to the database. SQLite has one writer at a time, so more threads would only queue on
# its lock; PostgreSQL applies messages from several connections in parallel.
HL7_WORKER_THREADS = env.int(
    "HL7_WORKER_THREADS", default=1 if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3" else 8
)
# Batches of after-store messages the listener's group commit stores at once (docs/hl7.md), each on a database
# connection of the event loop. One is the default on both: on SQLite a batch runs to its end on the loop, and on
# PostgreSQL one connection makes the largest batches, so the fewest commits (bench/bench_mllp.py:
# 0.54-0.57 of the ceiling with one, 0.48-0.50 with two, 0.41-0.42 with four, measured side by side).
HL7_GROUP_COMMIT_THREADS = env.int("HL7_GROUP_COMMIT_THREADS", default=1)
if HL7_GROUP_COMMIT_THREADS < 1:
    raise ImproperlyConfigured("HL7_GROUP_COMMIT_THREADS must be at least 1")
# The listener's INFO line summing up what it answered (messages by ACK code, time from frame to ACK) is written
# this often while messages arrive; each accepted message's own line is at DEBUG (docs/hl7.md, "Logs"). 0: never.
HL7_ACTIVITY_LOG_SECONDS = env.float("HL7_ACTIVITY_LOG_SECONDS", default=60)
if HL7_ACTIVITY_LOG_SECONDS < 0:
    raise ImproperlyConfigured("HL7_ACTIVITY_LOG_SECONDS must be 0 (never) or more")
# On SIGTERM/SIGINT: how long messages already being applied may take to finish and be acknowledged.
HL7_SHUTDOWN_GRACE_SECONDS = env.float("HL7_SHUTDOWN_GRACE_SECONDS", default=30)
# Inbound interfaces (/staff/hl7/interfaces/): each process keeps the active ones for this long before reading them
# again, so a change reaches a running listener within this many seconds (at once in the process that made it).
HL7_INTERFACE_CACHE_SECONDS = env.float("HL7_INTERFACE_CACHE_SECONDS", default=10)
# Interfaces that acknowledge after store (docs/hl7.md, "When the ACK is sent"): workers apply stored messages in
# batches of this many, one transaction each. The receiving path enqueues the task that applies them at most once
# every HL7_STORED_WAKE_SECONDS per process (0: never; the scheduler's minute job and `manage.py hl7_apply_stored`
# remain); one run of the task applies batches for at most HL7_STORED_TASK_SECONDS, then enqueues itself again.
HL7_STORED_BATCH_SIZE = env.int("HL7_STORED_BATCH_SIZE", default=200)
HL7_STORED_WAKE_SECONDS = env.float("HL7_STORED_WAKE_SECONDS", default=1)
HL7_STORED_TASK_SECONDS = env.float("HL7_STORED_TASK_SECONDS", default=30)
# TLS for MLLP (docs/hl7.md, "TLS"): both set, or neither (plain TCP). With a CA file, senders must present a client
# certificate signed by it. The listener refuses to start when a file is missing or cannot be read.
HL7_TLS_CERT_FILE = env.str("HL7_TLS_CERT_FILE", default="")
HL7_TLS_KEY_FILE = env.str("HL7_TLS_KEY_FILE", default="")
HL7_TLS_CA_FILE = env.str("HL7_TLS_CA_FILE", default="")

# HL7 to the PAS (docs/hl7.md, "Sending to the PAS"; docs/configuration.md) ---------------------------------------
# When a patient changes their contact details, an ADT^A31 is queued (hl7.OutboundMessage) and sent over MLLP to this
# address. No host: messages wait in the queue, and /staff/hl7/outbound/ says that no endpoint is configured.
HL7_OUTBOUND_PAS_HOST = env.str("HL7_OUTBOUND_PAS_HOST", default="")
HL7_OUTBOUND_PAS_PORT = env.int("HL7_OUTBOUND_PAS_PORT", default=2575)
# MSH-5 and MSH-6 (the receiver) and MSH-4 (our facility) on the messages; PID-3.4 on our hospital numbers.
HL7_OUTBOUND_PAS_APPLICATION = env.str("HL7_OUTBOUND_PAS_APPLICATION", default="PAS")
HL7_OUTBOUND_PAS_FACILITY = env.str("HL7_OUTBOUND_PAS_FACILITY", default="")
HL7_OUTBOUND_SENDING_FACILITY = env.str("HL7_OUTBOUND_SENDING_FACILITY", default="")
HL7_OUTBOUND_HOSPITAL_NUMBER_AUTHORITY = env.str("HL7_OUTBOUND_HOSPITAL_NUMBER_AUTHORITY", default="")
# Connecting, sending and waiting for the ACK, each at most this long.
HL7_OUTBOUND_TIMEOUT_SECONDS = env.float("HL7_OUTBOUND_TIMEOUT_SECONDS", default=10)
# A PAS that cannot be reached is tried again after 1, 2, 4, ... minutes (at most HL7_OUTBOUND_MAX_RETRY_SECONDS
# apart); after HL7_OUTBOUND_MAX_ATTEMPTS tries the message is marked failed for staff to retry.
HL7_OUTBOUND_RETRY_SECONDS = env.int("HL7_OUTBOUND_RETRY_SECONDS", default=60)
HL7_OUTBOUND_MAX_RETRY_SECONDS = env.int("HL7_OUTBOUND_MAX_RETRY_SECONDS", default=60 * 60)
HL7_OUTBOUND_MAX_ATTEMPTS = env.int("HL7_OUTBOUND_MAX_ATTEMPTS", default=10)
# TLS to the PAS: on, the PAS's certificate is checked against the system's CAs or HL7_OUTBOUND_PAS_TLS_CA_FILE;
# with a certificate and key file, CarePortal presents them as its client certificate.
HL7_OUTBOUND_PAS_TLS = env.bool("HL7_OUTBOUND_PAS_TLS", default=False)
HL7_OUTBOUND_PAS_TLS_CA_FILE = env.str("HL7_OUTBOUND_PAS_TLS_CA_FILE", default="")
HL7_OUTBOUND_PAS_TLS_CERT_FILE = env.str("HL7_OUTBOUND_PAS_TLS_CERT_FILE", default="")
HL7_OUTBOUND_PAS_TLS_KEY_FILE = env.str("HL7_OUTBOUND_PAS_TLS_KEY_FILE", default="")

# A new email address a patient gives is used only once they follow the link emailed to it, within this many hours.
CAREPORTAL_EMAIL_CHANGE_LINK_HOURS = env.int("CAREPORTAL_EMAIL_CHANGE_LINK_HOURS", default=24)


# Messages with care teams (docs/configuration.md, "Messages") --------------------------------------------------
# Attachments are kept here, outside the web root and outside MEDIA_ROOT, under random names; they are served
# only through the access-checked download view.
MESSAGE_ATTACHMENT_ROOT = env.path("MESSAGE_ATTACHMENT_ROOT", default=BASE_DIR / "var" / "private" / "attachments")
# Where attachments are kept (careportal/core/files.py): on this machine's disk under MESSAGE_ATTACHMENT_ROOT by
# default; with several web servers, any Django storage shared by all of them, such as django-storages' S3 backend
# (ATTACHMENT_STORAGE_BACKEND=storages.backends.s3.S3Storage, ATTACHMENT_STORAGE_OPTIONS='{"bucket_name": ...}').
ATTACHMENT_STORAGE = {
    "BACKEND": env.str("ATTACHMENT_STORAGE_BACKEND", default="careportal.core.files.PrivateFileSystemStorage"),
    "OPTIONS": env.json("ATTACHMENT_STORAGE_OPTIONS", default={}),
}
# Recognised by content (libmagic), never by name or the browser's claim.
MESSAGE_ATTACHMENT_TYPES = env.list(
    "MESSAGE_ATTACHMENT_TYPES", default=["application/pdf", "image/jpeg", "image/png", "image/heic"]
)
MESSAGE_ATTACHMENT_MAX_BYTES = env.int("MESSAGE_ATTACHMENT_MAX_BYTES", default=10 * 1024 * 1024)
MESSAGE_ATTACHMENT_MAX_COUNT = env.int("MESSAGE_ATTACHMENT_MAX_COUNT", default=5)
# Images larger than this many pixels are refused before decoding (decompression bombs).
MESSAGE_IMAGE_MAX_PIXELS = env.int("MESSAGE_IMAGE_MAX_PIXELS", default=40_000_000)
MESSAGE_BODY_MAX_CHARACTERS = env.int("MESSAGE_BODY_MAX_CHARACTERS", default=5000)
# Optional virus scanning through clamd: set CLAMAV_SOCKET (a Unix socket path) or CLAMAV_HOST and CLAMAV_PORT.
# With either set, new attachments are held ("waiting for the virus check") until clamd says they are clean.
CLAMAV_SOCKET = env.str("CLAMAV_SOCKET", default="")
CLAMAV_HOST = env.str("CLAMAV_HOST", default="")
CLAMAV_PORT = env.int("CLAMAV_PORT", default=3310)
CLAMAV_TIMEOUT_SECONDS = env.float("CLAMAV_TIMEOUT_SECONDS", default=30)

# Appointments (docs/appointments.md). Reminders: days before the start, most first; blank sends none.
APPOINTMENT_REMINDER_DAYS = env.str("APPOINTMENT_REMINDER_DAYS", default="7,1")
# The video appointment's join button: from this many minutes before the start until this many after the end.
APPOINTMENT_VIDEO_JOIN_MINUTES_BEFORE = env.int("APPOINTMENT_VIDEO_JOIN_MINUTES_BEFORE", default=30)
APPOINTMENT_VIDEO_JOIN_MINUTES_AFTER = env.int("APPOINTMENT_VIDEO_JOIN_MINUTES_AFTER", default=0)

# Video consultations (docs/video.md; docs/configuration.md, "Video consultations") ------------------------------
# Which service holds video appointments: "jitsi" (the trust's own Jitsi Meet server), "teams" (Microsoft Teams
# through Microsoft Graph) or "none". Development uses the public Jitsi server; production has no default, so a
# trust that offers video appointments chooses its service, and one that does not need set nothing.
VIDEO_PROVIDER = env.str("VIDEO_PROVIDER", default="none" if IS_PRODUCTION else "jitsi").strip().lower()
if VIDEO_PROVIDER not in {"jitsi", "teams", "none"}:
    raise ImproperlyConfigured(f"VIDEO_PROVIDER must be jitsi, teams or none (it is {VIDEO_PROVIDER!r})")
JITSI_BASE_URL = env.str("JITSI_BASE_URL", default="" if IS_PRODUCTION else "https://meet.jit.si").strip()
# Token authentication (Prosody's `authentication = "token"`): both set, or neither (rooms open to whoever has the
# link). JITSI_APP_ID is the token's issuer (Prosody's app_id); JITSI_APP_SECRET its HS256 key (app_secret).
JITSI_APP_ID = env.str("JITSI_APP_ID", default="")
JITSI_APP_SECRET = env.str("JITSI_APP_SECRET", default="")
JITSI_JWT_AUDIENCE = env.str("JITSI_JWT_AUDIENCE", default="jitsi")
# A token works from this long before the appointment starts until this long after it was due to end (clinics run
# late).
JITSI_TOKEN_EARLY_MINUTES = env.int("JITSI_TOKEN_EARLY_MINUTES", default=30)
JITSI_TOKEN_LATE_MINUTES = env.int("JITSI_TOKEN_LATE_MINUTES", default=120)
TEAMS_TENANT_ID = env.str("TEAMS_TENANT_ID", default="")
TEAMS_CLIENT_ID = env.str("TEAMS_CLIENT_ID", default="")
TEAMS_CLIENT_SECRET = env.str("TEAMS_CLIENT_SECRET", default="")
# The Microsoft Entra object id of the account that organises the meetings (a clinic's account); the application
# access policy must be granted to it.
TEAMS_ORGANIZER_USER_ID = env.str("TEAMS_ORGANIZER_USER_ID", default="")
TEAMS_AUTHORITY_HOST = env.str("TEAMS_AUTHORITY_HOST", default="https://login.microsoftonline.com").strip()
GRAPH_BASE_URL = env.str("GRAPH_BASE_URL", default="https://graph.microsoft.com/v1.0").strip()
TEAMS_TIMEOUT_SECONDS = env.float("TEAMS_TIMEOUT_SECONDS", default=10)
# A PEM file of certificate authorities to trust for Microsoft sign-in and Graph instead of the usual ones (for a
# network whose proxy inspects TLS).
TEAMS_CA_BUNDLE = env.str("TEAMS_CA_BUNDLE", default="")
if VIDEO_PROVIDER == "jitsi":
    if not JITSI_BASE_URL:
        raise ImproperlyConfigured("Set JITSI_BASE_URL (your Jitsi Meet server's address) for VIDEO_PROVIDER=jitsi")
    if IS_PRODUCTION and not JITSI_BASE_URL.startswith("https://"):
        raise ImproperlyConfigured("JITSI_BASE_URL must be an https:// address in production")
    if bool(JITSI_APP_ID) != bool(JITSI_APP_SECRET):
        raise ImproperlyConfigured("Set both JITSI_APP_ID and JITSI_APP_SECRET for Jitsi tokens, or neither")
    if IS_PRODUCTION and JITSI_APP_SECRET and len(JITSI_APP_SECRET) < 32:
        raise ImproperlyConfigured("JITSI_APP_SECRET must be at least 32 characters long")
if VIDEO_PROVIDER == "teams":
    _teams_required = {
        "TEAMS_TENANT_ID": TEAMS_TENANT_ID,
        "TEAMS_CLIENT_ID": TEAMS_CLIENT_ID,
        "TEAMS_CLIENT_SECRET": TEAMS_CLIENT_SECRET,
        "TEAMS_ORGANIZER_USER_ID": TEAMS_ORGANIZER_USER_ID,
    }
    _teams_missing = [name for name, value in _teams_required.items() if not value]
    if _teams_missing:
        raise ImproperlyConfigured(f"Set {', '.join(_teams_missing)} for VIDEO_PROVIDER=teams")
    if IS_PRODUCTION and not (TEAMS_AUTHORITY_HOST.startswith("https://") and GRAPH_BASE_URL.startswith("https://")):
        raise ImproperlyConfigured("TEAMS_AUTHORITY_HOST and GRAPH_BASE_URL must be https:// addresses")


# Letters from clinics (docs/letters.md) -------------------------------------------------------------------------
# Letter PDFs and the print room's CSV exports are kept here, outside the web root, under random names, and served
# only through access-checked views. LETTER_STORAGE names any Django storage instead, as ATTACHMENT_STORAGE does.
LETTER_ROOT = env.path("LETTER_ROOT", default=BASE_DIR / "var" / "private" / "letters")
LETTER_STORAGE = {
    "BACKEND": env.str("LETTER_STORAGE_BACKEND", default="careportal.core.files.PrivateFileSystemStorage"),
    "OPTIONS": env.json("LETTER_STORAGE_OPTIONS", default={}),
}
# A letter larger than this (after Base64 decoding) is refused: AE over HL7, an error from the import command.
LETTER_MAX_BYTES = env.int("LETTER_MAX_BYTES", default=5 * 1024 * 1024)
# A print-room export of more letters than this is made in the background, with a progress page.
LETTER_EXPORT_BACKGROUND_OVER = env.int("LETTER_EXPORT_BACKGROUND_OVER", default=200)

# SMART on FHIR (careportal/fhir/, docs/fhir-api.md): django-oauth-toolkit's own models, named here because the
# connected-apps models refer to them (Django resolves such references through these settings).
OAUTH2_PROVIDER_APPLICATION_MODEL = "oauth2_provider.Application"
OAUTH2_PROVIDER_ACCESS_TOKEN_MODEL = "oauth2_provider.AccessToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_REFRESH_TOKEN_MODEL = "oauth2_provider.RefreshToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_ID_TOKEN_MODEL = "oauth2_provider.IDToken"  # noqa: S105 - a model name
OAUTH2_PROVIDER_GRANT_MODEL = "oauth2_provider.Grant"
# The OAuth 2.0 Security BCP (RFC 9700): no implicit or password grants, and PKCE with S256 only, for every client.
# careportal/fhir/ builds the rest of the SMART configuration on this (scopes, OpenID Connect, token lifetimes).
OAUTH2_PROVIDER = {
    "PKCE_REQUIRED": True,
    "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
    "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
    # Tokens only in the Authorization header (never in a URL), stored hashed, the issuer in every authorisation
    # response, and a replayed refresh token revokes its whole family.
    "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
    "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
    "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
    "COMPLIANT_BCP_RFC9700_REFRESH_TOKEN": True,
    "REFRESH_TOKEN_REUSE_PROTECTION": True,
    # Apps' redirect addresses are https in production; a developer's app on this machine may use http://127.0.0.1.
    "COMPLIANT_BCP_RFC9700_REDIRECT_URI_SCHEME": IS_PRODUCTION,
    "ALLOWED_REDIRECT_URI_SCHEMES": ["https"] if IS_PRODUCTION else ["http", "https"],
}

# The FHIR R4 API (careportal/fhir/, docs/fhir-api.md): the trust's identifier system for its hospital numbers
# (UK Core: a URI the trust owns) and the base of the code systems for local codes (a lab's own test codes).
CAREPORTAL_FHIR_HOSPITAL_NUMBER_SYSTEM = env.str(
    "CAREPORTAL_FHIR_HOSPITAL_NUMBER_SYSTEM", default="https://fhir.example-trust.nhs.uk/Id/hospital-number"
)
CAREPORTAL_FHIR_LOCAL_CODE_SYSTEM_BASE = env.str(
    "CAREPORTAL_FHIR_LOCAL_CODE_SYSTEM_BASE", default="https://fhir.example-trust.nhs.uk/CodeSystem"
)
# The FHIR base address apps see, for resources built outside a request (a record download's Bundle).
CAREPORTAL_FHIR_BASE_URL = env.str("CAREPORTAL_FHIR_BASE_URL", default="http://127.0.0.1:8000/fhir/r4/")

# SMART on FHIR: the authorisation server (careportal/fhir/oauth.py; docs/smart-on-fhir.md) ---------------------
# The key that signs ID tokens: OIDC_RSA_PRIVATE_KEY (PEM; "\n" may stand for line breaks) or a file named by
# OIDC_RSA_PRIVATE_KEY_FILE. Retired keys stay published (so ID tokens already issued still verify) while listed in
# OIDC_RSA_PRIVATE_KEYS_INACTIVE (or its _FILE). Production without a key serves no OpenID Connect; development and
# tests generate one and keep it under var/private/.
from careportal.fhir.keys import cached_development_key, pem_blocks  # noqa: E402


def _pem_setting(name: str) -> str:
    path = env.str(f"{name}_FILE", default="")
    return Path(path).read_text() if path else env.str(name, default="")


_oidc_keys = pem_blocks(_pem_setting("OIDC_RSA_PRIVATE_KEY"))
if not _oidc_keys and not IS_PRODUCTION:
    _oidc_keys = [cached_development_key(BASE_DIR / "var" / "private" / "oidc-rsa-private-key.pem")]
OAUTH2_PROVIDER.update(
    {
        "OAUTH2_VALIDATOR_CLASS": "careportal.fhir.oauth.SmartValidator",
        "SCOPES_BACKEND_CLASS": "careportal.fhir.oauth.SmartScopes",
        "APPLICATION_ADMIN_CLASS": "careportal.fhir.admin.SmartApplicationAdmin",
        "OIDC_ENABLED": bool(_oidc_keys),
        "OIDC_RSA_PRIVATE_KEY": _oidc_keys[0] if _oidc_keys else "",
        "OIDC_RSA_PRIVATE_KEYS_INACTIVE": pem_blocks(_pem_setting("OIDC_RSA_PRIVATE_KEYS_INACTIVE")),
        "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
        "OAUTH2_RESPONSE_TYPES_SUPPORTED": ["code"],
        "OAUTH2_GRANT_TYPES_SUPPORTED": ["authorization_code", "refresh_token"],
        # Every authorisation shows the consent page: the person chooses whose record, every time.
        "REQUEST_APPROVAL_PROMPT": "force",
        "AUTHORIZATION_CODE_EXPIRE_SECONDS": 60,
        "ACCESS_TOKEN_EXPIRE_SECONDS": env.int("FHIR_ACCESS_TOKEN_SECONDS", default=60 * 60),
        "ID_TOKEN_EXPIRE_SECONDS": env.int("FHIR_ACCESS_TOKEN_SECONDS", default=60 * 60),
        # A refresh token (offline_access) lapses this long after its last access token expired, unless used.
        "REFRESH_TOKEN_EXPIRE_SECONDS": env.int("FHIR_REFRESH_TOKEN_DAYS", default=90) * 24 * 60 * 60,
        "ROTATE_REFRESH_TOKEN": True,
    }
)
