"""The patient's "test your camera and microphone" page. It reads nothing from the record: the test runs in the
browser, and nothing it sees or hears leaves the device."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.decorators import patient_area
from careportal.access.layer import Viewer
from careportal.home.presenters import patient_navigation
from careportal.video.presenters import provider_help


@patient_area
def camera_check(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    return render(
        request,
        "video/camera_check.jinja",
        {
            "page_title": "Test your camera and microphone",
            "viewer": viewer,
            "provider": provider_help(settings.VIDEO_PROVIDER),
            "navigation_items": patient_navigation(viewer),
        },
    )
