from django.urls import path

from careportal.staff import views

app_name = "staff"
urlpatterns = [path("staff/", views.staff_home, name="home")]
