from django.urls import URLPattern

app_name = "hl7"
urlpatterns: list[URLPattern] = []
