from django.urls import path

from careportal.patients import views

app_name = "patients"
urlpatterns = [path("your-details/", views.your_details, name="your-details")]
