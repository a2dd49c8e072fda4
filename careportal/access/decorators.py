"""View decorators: resolve who is asking before the view runs (as Sentry's base endpoints do)."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect

from careportal.access.layer import helpdesk_viewer, staff_viewer, viewer_and_choices_for_request
from careportal.access.roles import is_staff_member

ViewFunc = Callable[..., HttpResponse]

# Set on every view `patient_area` wraps (and kept by decorators applied over it, which copy the wrapped function's
# attributes): tests/proxy/test_scope_matrix.py finds every patient-data address by it, so a new page about a
# patient's record cannot ship without its row in the proxy scope matrix.
PATIENT_AREA_MARKER = "careportal_patient_area"


def patient_area(view: ViewFunc) -> ViewFunc:
    """For pages about one patient's record, seen by the patient or a proxy: passes `viewer` to the view.

    Someone who acts for several people and has not chosen whose record to open is sent to choose first.
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        viewer, choices = viewer_and_choices_for_request(request)
        if viewer is None:
            return redirect("home:choose")
        # The layout names whose record this is, in the page title and under the header (careportal/core/layout.py).
        request.viewer = viewer  # type: ignore[attr-defined]
        request.patient_choices = choices  # type: ignore[attr-defined]
        return view(request, viewer, *args, **kwargs)

    setattr(wrapper, PATIENT_AREA_MARKER, True)
    return wrapper


def staff_area(view: ViewFunc) -> ViewFunc:
    """For staff consoles: clinicians of an active care team and helpdesk staff. Others get 404, not 403."""

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_staff_member(request.user):
            raise Http404("Page not found")
        viewer = staff_viewer(request)
        request.viewer = viewer  # type: ignore[attr-defined]
        return view(request, viewer, *args, **kwargs)

    return wrapper


def helpdesk_area(view: ViewFunc) -> ViewFunc:
    """For the helpdesk console: helpdesk staff and superusers only; passes the helpdesk `viewer` to the view.

    Clinicians, patients and proxies get 404, not 403, and the refusal is audited (see `helpdesk_viewer`).
    """

    @login_required
    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        viewer = helpdesk_viewer(request)
        request.viewer = viewer  # type: ignore[attr-defined]
        return view(request, viewer, *args, **kwargs)

    return wrapper
