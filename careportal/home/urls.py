from django.urls import path

from careportal.home import views

app_name = "home"
urlpatterns = [
    path("", views.start, name="start"),
    path("home/", views.home, name="home"),
    path("home/whose-record/", views.choose, name="choose"),
    path("home/whose-record/<uuid:patient_id>/", views.act_for, name="act-for"),
]
