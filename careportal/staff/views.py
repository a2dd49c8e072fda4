from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.decorators import staff_area
from careportal.access.layer import Viewer
from careportal.staff.selectors import memberships_for


@staff_area
def staff_home(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    return render(
        request,
        "staff/home.jinja",
        {
            "page_title": "Staff console",
            "viewer": viewer,
            "memberships": memberships_for(user=viewer.user),
        },
    )
