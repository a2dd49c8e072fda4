"""Structured logging: structlog for our own lines and, through its ProcessorFormatter, for Django's and libraries'.

Nothing that identifies a patient may be logged. The processors below are a second line of defence (the first is
never passing such values to a logger): they drop keys that commonly carry personal data.
"""

from typing import Any

import structlog

# Keys that may never reach a log line, whatever a library puts in its event dict.
REDACTED_KEYS = frozenset(
    {
        "name",
        "given_name",
        "family_name",
        "nhs_number",
        "hospital_number",
        "mrn",
        "email",
        "phone",
        "address",
        "postcode",
        "birth_date",
        "date_of_birth",
        "password",
        "query_string",
    }
)


def drop_personal_data(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    for key in REDACTED_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def drop_query_string(_logger: Any, _method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    # django-structlog logs the request as "GET /path?query"; a query string could carry anything a browser sent.
    request = event_dict.get("request")
    if isinstance(request, str) and "?" in request:
        event_dict["request"] = request.split("?", 1)[0] + "?[redacted]"
    return event_dict


SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    drop_query_string,
    drop_personal_data,
]


def build_logging_config(*, level: str, log_format: str) -> dict[str, Any]:
    renderer = (
        structlog.processors.JSONRenderer() if log_format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {
                "()": structlog.stdlib.ProcessorFormatter,
                "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
                "foreign_pre_chain": SHARED_PROCESSORS,
            }
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's request logger puts the full request (with its query string) into the record; our
            # middleware and error views already log what is needed without it.
            "django.request": {"level": "ERROR"},
            "django.server": {"level": "WARNING"},
            "django.db.backends": {"level": "WARNING"},
            "django_structlog": {"level": level},
        },
    }
