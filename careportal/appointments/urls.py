"""Appointments: the patient's pages (/appointments/)."""

from django.urls import path

from careportal.appointments import patient_views

app_name = "appointments"
urlpatterns = [
    path("appointments/", patient_views.appointment_list, name="list"),
    path("appointments/<uuid:public_id>/", patient_views.appointment_detail, name="detail"),
    path("appointments/<uuid:public_id>/calendar.ics", patient_views.appointment_calendar, name="calendar"),
    path("appointments/<uuid:public_id>/join/", patient_views.appointment_join, name="join"),
    path("appointments/<uuid:public_id>/change/", patient_views.appointment_change, name="change"),
]
