"""Video consultations: the patient's camera and microphone test. Included before other apps' patterns, so that
/appointments/test-camera-and-microphone/ is never taken for an appointment's own address."""

from django.urls import path

from careportal.video import views

app_name = "video"
urlpatterns = [
    path("appointments/test-camera-and-microphone/", views.camera_check, name="camera-check"),
]
