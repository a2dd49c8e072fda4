from django.apps import AppConfig


class ProxyConfig(AppConfig):
    name = "careportal.proxy"
    label = "proxy"
    verbose_name = "Proxy access"
