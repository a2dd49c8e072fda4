"""The admin for messaging, for superusers only.

The urgent-phrase list is edited here, with how often each phrase was shown and how often people sent anyway, so
the trust can review it. Threads, messages and correction requests are read-only: they change through the patient
pages and the team inbox, which audit every change. Nothing here shows what anyone wrote (message bodies,
subjects, correction outcomes): reading those outside the inbox would leave no trace in the patient's access log.
"""

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Count, Max, Q, QuerySet
from django.forms.renderers import DjangoTemplates
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from careportal.accounts.models import User
from careportal.messaging.inbox_selectors import urgent_phrase_preview
from careportal.messaging.models import (
    Attachment,
    CorrectionRequest,
    Message,
    Thread,
    UrgentInterception,
    UrgentPhrase,
    UrgentPhraseChange,
)
from careportal.messaging.phrase_services import (
    PhraseError,
    category_checked,
    phrase_checked,
    urgent_phrase_add,
    urgent_phrase_change,
    urgent_phrase_delete,
)

# The project's form renderer (FORM_RENDERER) renders NHS.UK Jinja templates; the admin needs Django's own.
ADMIN_RENDERER = DjangoTemplates()


class SuperuserOnly(admin.ModelAdmin):
    """Visible to superusers only, whatever model permissions a staff account was given."""

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)


class ReadOnly(SuperuserOnly):
    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if self.fields:
            return list(self.fields)  # type: ignore[arg-type]
        return [f.name for f in self.model._meta.fields if f.name not in (self.exclude or ())]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UrgentPhraseForm(forms.ModelForm):
    """The same rules as the staff page (phrase_services), and the same confirmation when a new or changed phrase
    would have stopped many recent messages."""

    default_renderer = ADMIN_RENDERER
    confirm = forms.BooleanField(
        required=False,
        label="Confirm a phrase that would stop many messages",
        help_text="Only needed when the form says so.",
    )

    class Meta:
        model = UrgentPhrase
        fields = ("phrase", "category", "is_active")

    def clean_phrase(self) -> str:
        # Stored as it is matched, so the list shows what actually matches and two spellings of one phrase
        # ("can't breathe", "cant breathe") cannot both be added.
        try:
            return phrase_checked(self.cleaned_data["phrase"], instance=self.instance)
        except PhraseError as refusal:
            if refusal.code == "duplicate":
                raise forms.ValidationError("This phrase is already in the list.") from None
            raise forms.ValidationError(f"{refusal}.") from None

    def clean_category(self) -> str:
        try:
            return category_checked(self.cleaned_data["category"])
        except PhraseError as refusal:
            raise forms.ValidationError(f"{refusal}.") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        phrase = cleaned.get("phrase")
        if phrase and phrase != self.initial.get("phrase"):
            preview = urgent_phrase_preview(phrase=phrase)
            if preview.needs_confirmation and not cleaned.get("confirm"):
                self.add_error("confirm", f"{preview.text} Tick the box to save it anyway.")
        return cleaned


class UrgentPhraseChangeInline(admin.TabularInline):
    model = UrgentPhraseChange
    fields = ("changed_at", "kind", "phrase_text", "category", "detail", "changed_by_display")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-changed_at", "-pk")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(UrgentPhrase)
class UrgentPhraseAdmin(SuperuserOnly):
    """Every save and delete goes through the phrase services, so the history (below each phrase, and under
    "Urgent phrase changes") records the admin's changes as it does the staff page's."""

    form = UrgentPhraseForm
    list_display = ("phrase", "category", "is_active", "times_shown", "times_sent_anyway", "last_shown")
    list_filter = ("is_active", "category")
    list_editable = ("is_active",)
    search_fields = ("phrase", "category")
    inlines = [UrgentPhraseChangeInline]

    def get_inlines(self, request: HttpRequest, obj: UrgentPhrase | None) -> list[type[admin.TabularInline]]:
        # A new phrase has no history yet; an existing one shows its own, read-only.
        return [UrgentPhraseChangeInline] if obj is not None else []

    def get_queryset(self, request: HttpRequest) -> QuerySet[UrgentPhrase]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                shown=Count("interceptions"),
                sent_anyway=Count("interceptions", filter=Q(interceptions__sent_anyway=True)),
                last=Max("interceptions__occurred_at"),
            )
        )

    def save_model(self, request: HttpRequest, obj: UrgentPhrase, form: forms.ModelForm, change: bool) -> None:
        by: User = request.user  # type: ignore[assignment]
        if change and obj.pk is not None:
            saved = urgent_phrase_change(
                by=by, phrase=obj, new_phrase=obj.phrase, category=obj.category, is_active=obj.is_active
            )
        else:
            saved = urgent_phrase_add(by=by, phrase=obj.phrase, category=obj.category, is_active=obj.is_active)
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: UrgentPhrase) -> None:
        urgent_phrase_delete(by=request.user, phrase=obj)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[UrgentPhrase]) -> None:
        for phrase in queryset:
            urgent_phrase_delete(by=request.user, phrase=phrase)  # type: ignore[arg-type]

    @admin.display(description="Times shown", ordering="shown")
    def times_shown(self, obj: UrgentPhrase) -> str:
        url = reverse("admin:messaging_urgentinterception_changelist") + f"?phrase__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.shown)  # type: ignore[attr-defined]

    @admin.display(description="Sent anyway", ordering="sent_anyway")
    def times_sent_anyway(self, obj: UrgentPhrase) -> int:
        return obj.sent_anyway  # type: ignore[attr-defined,no-any-return]

    @admin.display(description="Last shown", ordering="last")
    def last_shown(self, obj: UrgentPhrase) -> Any:
        return obj.last  # type: ignore[attr-defined]


@admin.register(UrgentPhraseChange)
class UrgentPhraseChangeAdmin(ReadOnly):
    """Who added, changed, switched off or on, or deleted which phrase, and when. Never edited."""

    list_display = ("changed_at", "kind", "phrase_text", "category", "detail", "changed_by_display")
    list_filter = ("kind",)
    search_fields = ("phrase_text", "category", "changed_by_display")
    date_hierarchy = "changed_at"


@admin.register(UrgentInterception)
class UrgentInterceptionAdmin(ReadOnly):
    """Each time the urgent-care page was shown: which phrase, for which team, and whether the person sent anyway.
    The counts per phrase are on the urgent phrase list."""

    list_display = ("occurred_at", "phrase_text", "care_team", "author_role", "sent_anyway")
    list_filter = ("sent_anyway", "author_role", "phrase", "care_team")
    date_hierarchy = "occurred_at"


@admin.register(Thread)
class ThreadAdmin(ReadOnly):
    list_display = ("public_id", "care_team", "topic", "status", "created_at", "reply_due_on", "started_by_staff")
    list_filter = ("status", "topic", "started_by_staff", "care_team")
    search_fields = ("public_id",)
    date_hierarchy = "created_at"
    exclude = ("subject",)

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Thread | None:
        thread = super().get_object(request, object_id, from_field)
        if thread is not None:
            # The page's title and breadcrumbs name the object by str(), which is the subject the patient wrote. The
            # copy is never saved: this admin has no change or delete permission.
            thread.subject = f"Thread {thread.public_id}"
        return thread


@admin.register(Message)
class MessageAdmin(ReadOnly):
    # The thread by its id: its name is the subject the patient wrote.
    list_display = ("public_id", "thread_id_shown", "author_role", "is_internal_note", "created_at")
    list_filter = ("author_role", "is_internal_note")
    search_fields = ("public_id", "thread__public_id")
    date_hierarchy = "created_at"
    fields = (
        "public_id",
        "thread_id_shown",
        "author",
        "author_role",
        "author_display",
        "is_internal_note",
        "created_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Message]:
        return super().get_queryset(request).select_related("thread").defer("body", "thread__subject")

    @admin.display(description="Thread")
    def thread_id_shown(self, obj: Message) -> str:
        return str(obj.thread.public_id)


@admin.register(CorrectionRequest)
class CorrectionRequestAdmin(ReadOnly):
    list_display = ("public_id", "status", "created_at", "decided_at")
    list_filter = ("status",)
    search_fields = ("public_id",)
    fields = ("public_id", "thread_id_shown", "status", "decided_at", "decided_by", "created_at", "updated_at")

    def get_queryset(self, request: HttpRequest) -> QuerySet[CorrectionRequest]:
        return super().get_queryset(request).select_related("thread").defer("outcome", "thread__subject")

    @admin.display(description="Thread")
    def thread_id_shown(self, obj: CorrectionRequest) -> str:
        return str(obj.thread.public_id)


@admin.register(Attachment)
class AttachmentAdmin(ReadOnly):
    """Files by their ids and virus-check state; their names (which people choose, and which can say a lot) are
    not shown."""

    list_display = ("public_id", "content_type", "size", "scan_status", "scanned_at", "created_at")
    list_filter = ("scan_status", "content_type")
    search_fields = ("public_id", "message__public_id")
    fields = (
        "public_id",
        "message_id_shown",
        "content_type",
        "size",
        "sha256",
        "scan_status",
        "scanned_at",
        "created_at",
    )

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None) -> Attachment | None:
        attachment = super().get_object(request, object_id, from_field)
        if attachment is not None:
            # As for threads: str() is the person's file name. Never saved (no change permission).
            attachment.display_name = f"Attachment {attachment.public_id}"
        return attachment

    @admin.display(description="Message")
    def message_id_shown(self, obj: Attachment) -> str:
        return str(obj.message.public_id)
