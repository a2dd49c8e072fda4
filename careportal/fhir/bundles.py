"""Bundles: searchset pages with `total`, `self` and `next` links (the next link carries an opaque, signed cursor
naming only the last resource id of the page, and the search parameters the app sent).

The Bundle is written as its JSON directly: its entries are resources already validated as they were built (or
built as their JSON, resources.py), and the envelope is fixed, so validating the whole Bundle again with the R4B
model on every request only cost time. tests/fhir/test_json_builders.py validates the envelope with the model."""

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

from django.utils import timezone
from fhir.resources.R4B.resource import Resource

from careportal.fhir.resources import json_instant, resource_type_and_id, to_json
from careportal.fhir.search import SearchQuery


def searchset(
    *,
    base_url: str,
    resource_type: str,
    query: SearchQuery | None,
    resources: Sequence[Resource | dict[str, Any]],
    total: int,
    next_cursor: str = "",
    self_url: str = "",
) -> dict[str, Any]:
    links: list[dict[str, str]] = []
    if query is not None:
        params = list(query.echoed)
        if query.cursor:
            params.append(("_cursor", query.cursor))
        links.append({"relation": "self", "url": _url(base_url, resource_type, params)})
        if next_cursor:
            links.append(
                {"relation": "next", "url": _url(base_url, resource_type, [*query.echoed, ("_cursor", next_cursor)])}
            )
    elif self_url:
        links.append({"relation": "self", "url": self_url})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": json_instant(timezone.now()),
        "total": total,
    }
    if links:
        bundle["link"] = links
    entries = []
    for resource in resources:
        kind, resource_id = resource_type_and_id(resource)
        entries.append(
            {"fullUrl": f"{base_url}{kind}/{resource_id}", "resource": to_json(resource), "search": {"mode": "match"}}
        )
    if entries:
        bundle["entry"] = entries
    return bundle


def _url(base_url: str, resource_type: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base_url}{resource_type}" + (f"?{query}" if query else "")
