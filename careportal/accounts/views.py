from django.contrib.auth import views as auth_views
from django.http import HttpResponse
from django.urls import reverse

from careportal.access.roles import is_staff_member
from careportal.accounts.forms import SignInForm


class SignInView(auth_views.LoginView):
    template_name = "accounts/sign_in.jinja"
    form_class = SignInForm
    redirect_authenticated_user = True
    extra_context = {"page_title": "Sign in"}

    def get_default_redirect_url(self) -> str:
        if is_staff_member(self.request.user) and not hasattr(self.request.user, "patient"):
            return reverse("staff:home")
        return reverse("home:home")


class SignOutView(auth_views.LogoutView):
    """POST only (Django's LogoutView refuses GET), so a link or image on another site cannot sign anyone out."""

    def post(self, request, *args, **kwargs) -> HttpResponse:  # type: ignore[no-untyped-def]
        response = super().post(request, *args, **kwargs)
        response["Clear-Site-Data"] = '"cache", "storage"'
        return response


sign_in = SignInView.as_view()
sign_out = SignOutView.as_view()
