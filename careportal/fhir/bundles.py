"""Bundles: searchset pages with `total`, `self` and `next` links (the next link carries an opaque, signed cursor
naming only the last resource id of the page, and the search parameters the app sent)."""

from typing import Any
from urllib.parse import urlencode

from django.utils import timezone
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.resource import Resource

from careportal.fhir.search import SearchQuery


def searchset(
    *,
    base_url: str,
    resource_type: str,
    query: SearchQuery | None,
    resources: list[Resource],
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
    bundle = Bundle.model_validate(
        {
            "type": "searchset",
            "timestamp": timezone.now().isoformat(),
            "total": total,
            "link": links or None,
            "entry": [
                {
                    "fullUrl": f"{base_url}{resource.get_resource_type()}/{resource.id}",
                    "resource": resource,
                    "search": {"mode": "match"},
                }
                for resource in resources
            ]
            or None,
        }
    )
    return bundle.model_dump(mode="json", exclude_none=True)


def _url(base_url: str, resource_type: str, params: list[tuple[str, str]]) -> str:
    query = urlencode(params)
    return f"{base_url}{resource_type}" + (f"?{query}" if query else "")
