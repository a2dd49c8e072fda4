"""Connected apps (/your-apps/): every app reading the patient's own record (whoever connected it) and the apps
this person connected to a record they act for; see each one, whose record it reads and what, and disconnect it.
Who sees which is careportal/fhir/selectors.py's rule; any other connection's id is 404."""

from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from careportal.access.layer import viewer_for_request
from careportal.fhir import services
from careportal.fhir.access import access_connection, visible_connections
from careportal.fhir.presenters import connection_rows
from careportal.home.presenters import patient_navigation


def _page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    context.setdefault("navigation_items", patient_navigation(viewer_for_request(request)))
    return render(request, template, context)


@login_required
def connected_apps(request: HttpRequest) -> HttpResponse:
    rows = connection_rows(visible_connections(request=request), user_id=request.user.pk)  # type: ignore[arg-type]
    return _page(request, "fhir/connected_apps.jinja", {"page_title": "Connected apps", "rows": rows})


@login_required
def disconnect(request: HttpRequest, connection_id: UUID) -> HttpResponse:
    viewer, state = access_connection(request=request, public_id=connection_id)
    (row,) = connection_rows([state], user_id=request.user.pk)  # type: ignore[arg-type]
    if request.method == "POST":
        services.app_connection_revoke(connection=state.connection, by=viewer)
        messages.success(request, f"{row.app_name} is disconnected. It can no longer read {row.whose_in_sentence}.")
        return redirect("fhir:connected-apps")
    return _page(request, "fhir/disconnect.jinja", {"page_title": f"Disconnect {row.app_name}?", "row": row})
