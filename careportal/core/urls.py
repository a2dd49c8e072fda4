from django.urls import path

from careportal.core import views

app_name = "core"
urlpatterns = [
    path("get-help/", views.get_help, name="get-help"),
    path("accessibility/", views.accessibility, name="accessibility"),
    path("privacy/", views.privacy, name="privacy"),
    path("health/", views.health, name="health"),
]
