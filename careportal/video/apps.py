from django.apps import AppConfig


class VideoConfig(AppConfig):
    name = "careportal.video"
    label = "video"
    verbose_name = "Video consultations"
