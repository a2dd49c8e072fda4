"""The SMART authorisation server at /fhir/r4/auth/, under django-oauth-toolkit's own URL names (the namespace
"oauth2_provider"), which DOT reverses to build its discovery documents and the issuer (docs/smart-on-fhir.md)."""

from django.urls import path, re_path
from oauth2_provider import views as dot

from careportal.fhir.views_auth import AuthorizeView, SmartIntrospectView

app_name = "oauth2_provider"
urlpatterns = [
    path("authorize/", AuthorizeView.as_view(), name="authorize"),
    path("token/", dot.TokenView.as_view(), name="token"),
    path("revoke/", dot.RevokeTokenView.as_view(), name="revoke-token"),
    path("introspect/", SmartIntrospectView.as_view(), name="introspect"),
    re_path(
        r"^\.well-known/openid-configuration$",
        dot.ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/oauth-authorization-server", dot.OAuthServerMetadataView.as_view(), name="oauth-server-metadata"),
    path(".well-known/jwks.json", dot.JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", dot.UserInfoView.as_view(), name="user-info"),
]
