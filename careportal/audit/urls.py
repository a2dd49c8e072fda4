from django.urls import path

from careportal.audit import views

app_name = "audit"
urlpatterns = [path("who-has-viewed-your-record/", views.access_log, name="access-log")]
