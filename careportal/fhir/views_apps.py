"""The signed-in person's connected apps (/your-apps/): see each app, whose record it reads and what, and
disconnect it. Only the person's own connections: another person's connection id is 404."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from careportal.access.layer import viewer_for_request
from careportal.fhir import selectors, services
from careportal.fhir.access import access_connection, connection_viewer
from careportal.fhir.presenters import connection_rows
from careportal.home.presenters import patient_navigation


def _page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    context.setdefault("navigation_items", patient_navigation(viewer_for_request(request)))
    return render(request, template, context)


@login_required
def connected_apps(request: HttpRequest) -> HttpResponse:
    connections = list(selectors.connections_for(user=request.user))  # type: ignore[arg-type]
    rows = connection_rows(connections, user_id=request.user.pk)  # type: ignore[arg-type]
    return _page(request, "fhir/connected_apps.jinja", {"page_title": "Connected apps", "rows": rows})


@login_required
def disconnect(request: HttpRequest, connection_id: UUID) -> HttpResponse:
    connection = access_connection(user=request.user, public_id=connection_id)  # type: ignore[arg-type]
    (row,) = connection_rows([connection], user_id=request.user.pk)  # type: ignore[arg-type]
    if request.method == "POST":
        services.app_connection_revoke(connection=connection, by=connection_viewer(request, connection))
        messages.success(request, f"{row.app_name} is disconnected. It can no longer read {row.whose.lower()}.")
        return redirect("fhir:connected-apps")
    return _page(request, "fhir/disconnect.jinja", {"page_title": f"Disconnect {row.app_name}?", "row": row})
