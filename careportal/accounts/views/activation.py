"""Activation: a patient with a code from the hospital creates their portal account (docs/identity.md, "Activation").

    /activate/                           Step 1 of 4: the code from the letter, date of birth and postcode
    /activate/email/                     Step 2 of 4: email address
    /activate/username-and-password/     Step 3 of 4: username and password
    /activate/security-questions/        Step 4 of 4: three security questions
    /activate/check/                     check the answers, then create the account
    /activate/done/                      the account is ready (signed in)

What the patient has entered so far is kept in their session, never in a URL: the id of the checked code, the email
address and username, and only the hashes of the password and answers. A page after step 1 without that state (or
with state older than an hour) sends the patient back to step 1.
"""

import time
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from allauth.account import app_settings as allauth_settings
from allauth.account.internal.flows.login import perform_password_login
from allauth.account.models import Login
from django.contrib import messages
from django.contrib.sessions.backends.base import SessionBase
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.generic import FormView, TemplateView

from careportal.accounts.activation_forms import (
    ActivationCodeForm,
    EmailForm,
    SecurityQuestionsForm,
    UsernamePasswordForm,
)
from careportal.accounts.activation_services import (
    AlreadyActivated,
    CodeNoLongerUsable,
    NewAccount,
    Outcome,
    UsernameTaken,
    activation_code_check,
    activation_complete,
    activation_password_user,
    client_ip,
)
from careportal.accounts.models import SecurityQuestion

SESSION_KEY = "careportal_activation"
DONE_SESSION_KEY = "careportal_activation_done"
JOURNEY_SECONDS = 60 * 60
TOTAL_STEPS = 4

# One answer for a wrong code, date of birth or postcode, and for a code that is expired, used, revoked or locked.
REFUSED_MESSAGE = (
    "We could not match these details with an activation code that can still be used. "
    "Check the activation code, date of birth and postcode, then try again."
)


@dataclass
class ActivationState:
    code_id: int
    started_at: float
    email: str = ""
    username: str = ""
    password_hash: str = ""
    questions: list[str] = field(default_factory=list)
    answer_hashes: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, session: SessionBase) -> "ActivationState | None":
        data = session.get(SESSION_KEY)
        if not isinstance(data, dict):
            return None
        try:
            return cls(**data)
        except TypeError:
            session.pop(SESSION_KEY, None)
            return None

    @staticmethod
    def clear(session: SessionBase) -> None:
        session.pop(SESSION_KEY, None)

    def save(self, session: SessionBase) -> None:
        session[SESSION_KEY] = asdict(self)

    def is_expired(self) -> bool:
        return time.time() - self.started_at > JOURNEY_SECONDS

    def steps_done(self) -> dict[int, bool]:
        return {
            1: True,
            2: bool(self.email),
            3: bool(self.username and self.password_hash),
            4: len(self.answer_hashes) == len(self.questions) == 3,
        }

    def first_missing_step(self, *, before: int) -> int | None:
        return next((step for step, done in self.steps_done().items() if step < before and not done), None)

    def new_account(self) -> NewAccount:
        return NewAccount(
            username=self.username,
            password_hash=self.password_hash,
            email=self.email,
            security_answers=tuple(zip(self.questions, self.answer_hashes, strict=True)),
        )


STEP_URL_NAMES = {
    1: "accounts:activate",
    2: "accounts:activate-email",
    3: "accounts:activate-username",
    4: "accounts:activate-security-questions",
    5: "accounts:activate-check",
}


ViewClass = TypeVar("ViewClass", bound=type)

_TYPED_FIELDS = (
    "code",
    "date_of_birth_day",
    "date_of_birth_month",
    "date_of_birth_year",
    "postcode",
    "email",
    "password",
    "answer_1",
    "answer_2",
    "answer_3",
)


def private_page(view_class: ViewClass) -> ViewClass:
    """Never cached (every page shows something of the patient's), and what they typed never in an error report."""
    view_class = method_decorator(never_cache, name="dispatch")(view_class)
    return method_decorator(sensitive_post_parameters(*_TYPED_FIELDS), name="dispatch")(view_class)


class SignedOutMixin:
    """Activation makes a new account: anyone already signed in is asked to sign out first."""

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.user.is_authenticated:
            return render(request, "accounts/activation/signed_in.jinja", {"page_title": "You are already signed in"})
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]


class JourneyStateMixin:
    """The patient's progress, from the session. Pages after step 1 need it (not older than an hour) and every step
    before theirs done; otherwise they send the patient to the first step still to do."""

    step: int
    needs_state = True
    state: ActivationState

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if self.needs_state:
            state = ActivationState.load(request.session)
            if state is None:
                return redirect("accounts:activate")
            if state.is_expired():
                ActivationState.clear(request.session)
                messages.info(request, "For your security, we cleared what you had entered after an hour. Start again.")
                return redirect("accounts:activate")
            missing = state.first_missing_step(before=self.step)
            if missing is not None:
                return redirect(STEP_URL_NAMES[missing])
            self.state = state
        return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]

    def next_url(self) -> str:
        # Once every step is done (for example after "Change" on the check page), the next page is the check page.
        if all(self.state.steps_done().values()):
            return reverse("accounts:activate-check")
        return reverse(STEP_URL_NAMES[self.step + 1])


class StepPageMixin:
    """The page's title, its progress ("Step 2 of 4") and its back link."""

    step: int
    title: str

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)  # type: ignore[misc]
        back = "home:start" if self.step == 1 else STEP_URL_NAMES[self.step - 1]
        context.update(
            {
                "page_title": f"{self.title} – Set up your account",
                "title": self.title,
                "step": self.step if self.step <= TOTAL_STEPS else None,
                "total_steps": TOTAL_STEPS,
                "back_link": {"href": reverse(back)},
            }
        )
        return context


class ActivationPage(SignedOutMixin, JourneyStateMixin, StepPageMixin):
    request: HttpRequest


@private_page
class CodeView(ActivationPage, FormView):
    step = 1
    title = "Enter your activation code"
    needs_state = False
    form_class = ActivationCodeForm
    template_name = "accounts/activation/code.jinja"

    def form_valid(self, form: ActivationCodeForm) -> HttpResponse:
        check = activation_code_check(
            code=form.cleaned_data["code"],
            birth_date=form.cleaned_data["date_of_birth"],
            postcode=form.cleaned_data["postcode"],
            ip_address=client_ip(self.request),
        )
        if check.outcome is Outcome.THROTTLED:
            return render(
                self.request,
                "accounts/activation/too_many_attempts.jinja",
                {"page_title": "You have tried too many times"},
                status=429,
            )
        if check.outcome is Outcome.REFUSED:
            form.add_error(None, REFUSED_MESSAGE)
            return self.form_invalid(form)
        ActivationState.clear(self.request.session)
        if check.outcome is Outcome.ALREADY_ACTIVE:
            return render(
                self.request, "accounts/activation/already_active.jinja", {"page_title": "You already have an account"}
            )
        # A new session key once the patient has proved who they are, so that a key planted earlier is worthless.
        self.request.session.cycle_key()
        ActivationState(code_id=check.code_id, started_at=time.time()).save(self.request.session)  # type: ignore[arg-type]
        return redirect("accounts:activate-email")


@private_page
class EmailView(ActivationPage, FormView):
    step = 2
    title = "What is your email address?"
    form_class = EmailForm
    template_name = "accounts/activation/email.jinja"

    def get_initial(self) -> dict[str, Any]:
        return {"email": self.state.email}

    def form_valid(self, form: EmailForm) -> HttpResponse:
        self.state.email = form.cleaned_data["email"]
        self.state.save(self.request.session)
        return redirect(self.next_url())


@private_page
class UsernamePasswordView(ActivationPage, FormView):
    step = 3
    title = "Create a username and password"
    form_class = UsernamePasswordForm
    template_name = "accounts/activation/username_password.jinja"

    def get_initial(self) -> dict[str, Any]:
        return {"username": self.state.username}

    def get_form_kwargs(self) -> dict[str, Any]:
        state = self.state
        return {
            **super().get_form_kwargs(),
            "password_user": activation_password_user(code_id=state.code_id, username="", email=state.email),
        }

    def form_valid(self, form: UsernamePasswordForm) -> HttpResponse:
        self.state.username = form.cleaned_data["username"]
        self.state.password_hash = form.password_hash()
        self.state.save(self.request.session)
        return redirect(self.next_url())


@private_page
class SecurityQuestionsView(ActivationPage, FormView):
    step = 4
    title = "Choose 3 security questions"
    form_class = SecurityQuestionsForm
    template_name = "accounts/activation/security_questions.jinja"

    def get_initial(self) -> dict[str, Any]:
        questions = self.state.questions
        return {f"question_{number}": question for number, question in enumerate(questions, start=1)}

    def form_valid(self, form: SecurityQuestionsForm) -> HttpResponse:
        self.state.questions = form.questions()
        self.state.answer_hashes = form.answer_hashes()
        self.state.save(self.request.session)
        return redirect(self.next_url())


@private_page
class CheckView(ActivationPage, TemplateView):
    step = 5
    title = "Check your answers before you create your account"
    template_name = "accounts/activation/check.jinja"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        state = self.state
        return {
            **super().get_context_data(**kwargs),
            "username": state.username,
            "email": state.email,
            "questions": [SecurityQuestion(question).label for question in state.questions],
        }

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        state = self.state
        try:
            user = activation_complete(request=request, code_id=state.code_id, account=state.new_account())
        except CodeNoLongerUsable:
            ActivationState.clear(request.session)
            messages.error(
                request,
                "Your activation code stopped working before your account was made, so we could not create it. "
                "Try again, or call the helpdesk for a new code.",
            )
            return redirect("accounts:activate")
        except AlreadyActivated:
            ActivationState.clear(request.session)
            return render(
                request, "accounts/activation/already_active.jinja", {"page_title": "You already have an account"}
            )
        except UsernameTaken:
            state.username = ""
            state.password_hash = ""
            state.save(request.session)
            messages.error(
                request, "Someone has just taken that username. Choose another one, and your password again."
            )
            return redirect("accounts:activate-username")
        ActivationState.clear(request.session)
        request.session[DONE_SESSION_KEY] = {"email": state.email}
        # Sign the patient in through allauth, as its sign-in form does: an authentication record (so that setting
        # up two-step verification straight away does not ask for the password again), then the login stages.
        login = Login(
            user=user,
            email_verification=allauth_settings.EmailVerificationMethod.NONE,
            redirect_url=reverse("accounts:activate-done"),
        )
        return perform_password_login(request, {"username": user.username}, login)


@never_cache
def activation_done(request: HttpRequest) -> HttpResponse:
    done = request.session.get(DONE_SESSION_KEY)
    if not request.user.is_authenticated or not isinstance(done, dict):
        return redirect("accounts:activate")
    # allauth's "Successfully signed in" banner would only repeat what the panel says: read it (which discards it)
    # and show the page afresh.
    pending = messages.get_messages(request)
    if len(pending):
        list(pending)
        return redirect("accounts:activate-done")
    return render(
        request,
        "accounts/activation/done.jinja",
        {"page_title": "Your account is ready", "email": done.get("email", "")},
    )


urlpatterns = [
    path("activate/", CodeView.as_view(), name="activate"),
    path("activate/email/", EmailView.as_view(), name="activate-email"),
    path("activate/username-and-password/", UsernamePasswordView.as_view(), name="activate-username"),
    path("activate/security-questions/", SecurityQuestionsView.as_view(), name="activate-security-questions"),
    path("activate/check/", CheckView.as_view(), name="activate-check"),
    path("activate/done/", activation_done, name="activate-done"),
]
