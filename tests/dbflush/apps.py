from django.apps import AppConfig


class DbFlushConfig(AppConfig):
    name = "tests.dbflush"
    label = "tests_dbflush"
