"""Search parameters: parsing and checking what an app sent, before any query runs.

Every parameter of a search is checked against the resource type's list (`SearchSpec.params`); anything unknown,
repeated where it may not be, or malformed is a 400 OperationOutcome naming the parameter. The parsed values are
plain data (`DateBound`, `Token`) that `careportal/fhir/reads.py` turns into query filters.
"""

import datetime
import re
from dataclasses import dataclass, field
from enum import StrEnum

from django.http import QueryDict
from django.utils import timezone

from careportal.fhir.errors import BadSearchParameter

DEFAULT_COUNT = 50
MAX_COUNT = 100

# Parameters every search accepts (besides the resource type's own): paging, sorting and the response format.
CONTROL_PARAMETERS = frozenset({"_count", "_sort", "_format", "_cursor"})


class ParamType(StrEnum):
    DATE = "date"
    TOKEN = "token"  # noqa: S105 - a FHIR search parameter type
    REFERENCE = "reference"


@dataclass(frozen=True)
class DateBound:
    """One `date=<prefix><value>` condition: the value is a range [start, end) at its own precision."""

    prefix: str
    start: datetime.datetime
    end: datetime.datetime


@dataclass(frozen=True)
class Token:
    """`code=system|code`, `code=|code` (no system) or `code=code` (any system). `system` None means any."""

    system: str | None
    code: str


@dataclass(frozen=True)
class SearchQuery:
    """A checked search: the resource type's own parameters, and the paging and sorting controls."""

    dates: dict[str, tuple[DateBound, ...]] = field(default_factory=dict)
    tokens: dict[str, tuple[tuple[Token, ...], ...]] = field(default_factory=dict)  # AND of ORs
    references: dict[str, tuple[str, ...]] = field(default_factory=dict)
    count: int = DEFAULT_COUNT
    descending: bool = True
    cursor: str = ""
    # The parameters as sent (less the cursor), in order, for the `self` and `next` links.
    echoed: tuple[tuple[str, str], ...] = ()


DATE_PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge", "sa", "eb")
_DATE = re.compile(
    r"^(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(\.\d{1,9})?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_VALUE_LENGTH = 200


def parse_date(parameter: str, raw: str) -> DateBound:
    """`ge2024-03-01`, `2024`, `lt2024-03-01T09:30:00Z`, ...; dates without a time zone are in the trust's
    (Europe/London by default)."""
    prefix = "eq"
    value = raw
    if raw[:2] in DATE_PREFIXES:
        prefix, value = raw[:2], raw[2:]
    elif raw[:2].isalpha():
        raise BadSearchParameter(parameter, "the prefix must be one of " + ", ".join(DATE_PREFIXES) + ".")
    match = _DATE.match(value)
    if match is None:
        raise BadSearchParameter(parameter, "give a date as YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm:ss+zz:zz.")
    parts = match.groupdict()
    zone: datetime.tzinfo = timezone.get_current_timezone()
    if parts["tz"]:
        if parts["tz"] == "Z":
            zone = datetime.UTC
        else:
            sign = 1 if parts["tz"][0] == "+" else -1
            hours, minutes = int(parts["tz"][1:3]), int(parts["tz"][4:6])
            if hours > 23 or minutes > 59:
                raise BadSearchParameter(parameter, "the time zone offset is not valid.")
            zone = datetime.timezone(sign * datetime.timedelta(hours=hours, minutes=minutes))
    elif parts["hour"] is not None:
        raise BadSearchParameter(parameter, "a date with a time needs a time zone (Z or +hh:mm).")
    try:
        year = int(parts["year"])
        month = int(parts["month"] or 1)
        day = int(parts["day"] or 1)
        start = datetime.datetime(  # noqa: DTZ001 - made aware in `zone` below
            year, month, day, int(parts["hour"] or 0), int(parts["minute"] or 0), int(parts["second"] or 0)
        )
        if year < 1800:
            raise ValueError
    except ValueError:
        raise BadSearchParameter(parameter, "that date does not exist.") from None
    if parts["second"] is not None:
        end = start + datetime.timedelta(seconds=1)
    elif parts["minute"] is not None:
        end = start + datetime.timedelta(minutes=1)
    elif parts["day"] is not None:
        end = start + datetime.timedelta(days=1)
    elif parts["month"] is not None:
        end = (start + datetime.timedelta(days=32)).replace(day=1)
    else:
        end = start.replace(year=year + 1)
    if isinstance(zone, datetime.timezone) or zone is datetime.UTC:
        return DateBound(prefix, start.replace(tzinfo=zone), end.replace(tzinfo=zone))
    return DateBound(prefix, timezone.make_aware(start, zone), timezone.make_aware(end, zone))


def parse_token(parameter: str, raw: str) -> tuple[Token, ...]:
    """A comma-separated list of tokens (any of them matches)."""
    tokens = []
    for item in raw.split(","):
        if not item:
            raise BadSearchParameter(parameter, "an empty code is not a code.")
        if "|" in item:
            system, _, code = item.partition("|")
            if "|" in code:
                raise BadSearchParameter(parameter, "give system|code, with one '|'.")
            if not code:
                raise BadSearchParameter(parameter, "searching by a system alone is not supported; give system|code.")
            tokens.append(Token(system=system, code=code))
        else:
            tokens.append(Token(system=None, code=item))
    return tuple(tokens)


def parse_reference(parameter: str, raw: str, *, target: str) -> str:
    """`Patient/<id>` or `<id>` → the id."""
    value = raw.removeprefix(f"{target}/")
    if "/" in value or not _ID.match(value):
        raise BadSearchParameter(parameter, f"give {target}/<id> or <id>.")
    return value


def parse_search(
    params: QueryDict, *, spec: dict[str, ParamType], sort_parameters: frozenset[str], reference_targets: dict[str, str]
) -> SearchQuery:
    """Check every parameter sent against `spec` (the resource type's own parameters) and the controls."""
    dates: dict[str, list[DateBound]] = {}
    tokens: dict[str, list[tuple[Token, ...]]] = {}
    references: dict[str, list[str]] = {}
    count = DEFAULT_COUNT
    descending = True
    cursor = ""
    echoed: list[tuple[str, str]] = []
    for name, values in params.lists():
        base, _, modifier = name.partition(":")
        if modifier:
            raise BadSearchParameter(name, "modifiers are not supported.")
        if base not in spec and base not in CONTROL_PARAMETERS:
            raise BadSearchParameter(name, "not a supported search parameter for this resource type.")
        if base in CONTROL_PARAMETERS and len(values) > 1:
            raise BadSearchParameter(name, "give it once.")
        for raw in values:
            if len(raw) > MAX_VALUE_LENGTH:
                raise BadSearchParameter(name, "the value is too long.")
            if "\x00" in raw:  # PostgreSQL refuses it in any text: a 400 here, not a database error
                raise BadSearchParameter(name, "the value contains a NUL character, which no code or id has.")
            if base == "_format":
                echoed.append((base, raw))
                continue
            if base == "_cursor":
                if not raw or not re.fullmatch(r"[A-Za-z0-9_\-:.]+", raw):
                    raise BadSearchParameter(name, "this paging link is not valid; start the search again.")
                cursor = raw
                continue
            if not raw:
                raise BadSearchParameter(name, "an empty value is not allowed.")
            echoed.append((base, raw))
            if base == "_count":
                if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_COUNT:
                    raise BadSearchParameter(name, f"give a whole number from 1 to {MAX_COUNT}.")
                count = int(raw)
            elif base == "_sort":
                key = raw.removeprefix("-")
                if key not in sort_parameters:
                    allowed = ", ".join(sorted(sort_parameters)) or "none"
                    raise BadSearchParameter(name, f"sort by one of: {allowed} (with '-' for newest first).")
                descending = raw.startswith("-")
            elif spec[base] == ParamType.DATE:
                dates.setdefault(base, []).append(parse_date(name, raw))
            elif spec[base] == ParamType.TOKEN:
                tokens.setdefault(base, []).append(parse_token(name, raw))
            else:
                references.setdefault(base, []).append(parse_reference(name, raw, target=reference_targets[base]))
    return SearchQuery(
        dates={k: tuple(v) for k, v in dates.items()},
        tokens={k: tuple(v) for k, v in tokens.items()},
        references={k: tuple(v) for k, v in references.items()},
        count=count,
        descending=descending,
        cursor=cursor,
        echoed=tuple(echoed),
    )
