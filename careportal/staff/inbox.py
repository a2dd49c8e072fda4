"""One mechanism for every care team's inbox: the results inbox, the message inbox, and next the appointment
requests. Each inbox's views describe themselves once and leave the rest to this module:

- `team_inbox_area(scope=..., object_label=...)`: the decorator that admits members of an active care team with
  that clinical scope and refuses everyone else with the audited 404 (`clinician_viewer`).
- `InboxList` and `inbox_listing(request, viewer, inbox, rows=...)`: the clinician's teams, the team chosen with
  `?team=` (one of their own, or a 404), the filter chosen with `?show=` (an unknown one falls back to the
  default), one page of rows, the audit of every patient listed, and the links at the top of the page.
- `InboxItems` and `inbox_action(request, viewer, item_id, items=..., form_for=..., action=...)`: one POSTed action
  on one item (a report, a thread): resolve the item through the app's access function without a "viewed" event,
  check the form, run the service, show its sentence as the success message and go back to the item's page; a
  refusal or a form error shows the item's page again with the error, status 400.

Only team public ids, filter names and page numbers go into an inbox's address, never anything about a patient.
How a new inbox uses this is in docs/results-inbox.md ("One mechanism for every staff inbox").
"""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum, StrEnum
from functools import wraps
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlencode
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, HttpResponseRedirect
from django.urls import reverse

from careportal.access.layer import Viewer, clinician_viewer, team_inbox_rows_listed
from careportal.access.scopes import Scope
from careportal.audit.models import AccessAction
from careportal.patients.models import CareTeam
from careportal.staff.selectors import memberships_for

FilterT = TypeVar("FilterT", bound=StrEnum)
ItemT = TypeVar("ItemT")
ViewFunc = Callable[..., HttpResponseBase]

PAGE_SIZE = 25


def team_inbox_area(*, scope: Scope, object_label: str) -> Callable[[ViewFunc], ViewFunc]:
    """A view of a care team's inbox: signed in, a member of an active care team, with `scope`. The view is called
    with the clinician's `Viewer` after the request; the helpdesk, patients and proxies get an audited 404 that
    names `object_label`."""

    def decorator(view: ViewFunc) -> ViewFunc:
        @login_required
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            viewer = clinician_viewer(request, scope=scope, object_label=object_label)
            request.viewer = viewer  # type: ignore[attr-defined]
            return view(request, viewer, *args, **kwargs)

        return wrapper

    return decorator


# Teams and filters ---------------------------------------------------------------------------------------------


def inbox_teams(*, viewer: Viewer) -> list[CareTeam]:
    """The active care teams whose inboxes this clinician works, by name."""
    return [membership.care_team for membership in memberships_for(user=viewer.user)]


def inbox_team(*, teams: Iterable[CareTeam], public_id: UUID | str) -> CareTeam | None:
    """One of `teams` by its public id, or None (a team id is not patient data)."""
    return next((team for team in teams if str(team.public_id) == str(public_id)), None)


def inbox_filter(value: str | None, *, filters: type[FilterT], default: FilterT) -> FilterT:
    """The filter named in the address, or `default` for a missing or unknown one."""
    try:
        return filters(value if value is not None else default)
    except ValueError:
        return default


def query_string(**params: str) -> str:
    return "?" + urlencode({key: value for key, value in params.items() if value})


def inbox_navigation(
    *,
    url_name: str,
    teams: Iterable[CareTeam],
    team: CareTeam | None,
    show: Enum,
    default_show: Enum,
    filter_labels: Mapping[Any, str],
) -> dict[str, Any]:
    """The links at the top of an inbox: one per filter and one per team, each keeping the other choice, and the
    query string the pagination keeps."""
    base = reverse(url_name)
    team_param = str(team.public_id) if team else ""
    show_param = str(show.value) if show != default_show else ""
    return {
        "filters": [
            {
                "text": label,
                "href": base + query_string(team=team_param, show=str(value.value)),
                "current": value == show,
            }
            for value, label in filter_labels.items()
        ],
        "team_links": [
            {
                "text": each.name,
                "href": base + query_string(team=str(each.public_id), show=show_param),
                "current": team is not None and each.pk == team.pk,
            }
            for each in teams
        ],
        "all_teams_href": base + query_string(show=show_param),
        "page_query": query_string(team=team_param, show=show_param),
    }


# The list ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InboxList(Generic[FilterT]):
    """What one inbox's list page is: its address, its filters (labels in the order shown) and which one opens
    first, and the words for the patient's access log ("... viewed your <list_audit_label>")."""

    url_name: str
    filter_labels: Mapping[FilterT, str]
    default_filter: FilterT
    list_audit_label: str
    page_size: int = PAGE_SIZE

    @property
    def filters(self) -> type[FilterT]:
        return type(self.default_filter)


@dataclass(frozen=True)
class InboxListing(Generic[FilterT]):
    """One page of an inbox as the clinician asked for it. `viewer` is narrowed to `team` when one is chosen."""

    viewer: Viewer
    teams: list[CareTeam]
    team: CareTeam | None
    show: FilterT
    page: Page
    rows: list[Any]
    navigation: dict[str, Any]

    def context(self) -> dict[str, Any]:
        """The template context every inbox list shares."""
        return {
            "team": self.team,
            "teams": self.teams,
            "show": self.show,
            "page": self.page,
            **self.navigation,
        }


def inbox_listing(
    request: HttpRequest,
    viewer: Viewer,
    inbox: InboxList[FilterT],
    *,
    rows: Callable[[Viewer, FilterT], QuerySet[Any]],
) -> InboxListing[FilterT]:
    """The chosen team and filter, one page of `rows(viewer, show)` (the app's selector, already limited to the
    clinician's teams by the access layer), and one audit event per patient listed. A `?team=` that is not one of
    the clinician's own teams gets a 404, whether it exists or not."""
    teams = inbox_teams(viewer=viewer)
    team = None
    team_id = request.GET.get("team", "")
    if team_id:
        team = inbox_team(teams=teams, public_id=team_id)
        if team is None:
            raise Http404("Page not found")
        viewer = replace(viewer, care_team=team)
    show = inbox_filter(request.GET.get("show"), filters=inbox.filters, default=inbox.default_filter)
    page = Paginator(rows(viewer, show), inbox.page_size).get_page(request.GET.get("page"))
    listed = list(page.object_list)
    team_inbox_rows_listed(viewer=viewer, rows=listed, object_label=inbox.list_audit_label)
    navigation = inbox_navigation(
        url_name=inbox.url_name,
        teams=teams,
        team=team,
        show=show,
        default_show=inbox.default_filter,
        filter_labels=inbox.filter_labels,
    )
    return InboxListing(viewer=viewer, teams=teams, team=team, show=show, page=page, rows=listed, navigation=navigation)


# Actions on one item -------------------------------------------------------------------------------------------


class StaffLookup(Protocol[ItemT]):  # type: ignore[misc]
    """An app's access function for one item of its inbox (`access_report_as_staff`, `access_thread_as_staff`)."""

    def __call__(
        self, *, viewer: Viewer, public_id: UUID | str, object_label: str, action: AccessAction | None = ...
    ) -> tuple[Viewer, ItemT]: ...


@dataclass(frozen=True)
class InboxItems(Generic[ItemT]):
    """How an inbox finds one of its items and shows it.

    `lookup` is the app's access function and `object_label` its words for the access log; `url_name` and
    `id_kwarg` name the item's page; `refusal` is the exception the app's services raise with a sentence for the
    page; `page(request, item, failed=form, status=400)` renders the item's page with a failed form."""

    lookup: StaffLookup[ItemT]
    object_label: str
    url_name: str
    id_kwarg: str
    refusal: type[Exception]
    page: Callable[..., HttpResponse]


def inbox_action(
    request: HttpRequest,
    viewer: Viewer,
    item_id: UUID,
    *,
    items: InboxItems[ItemT],
    form_for: Callable[[ItemT], forms.Form],
    action: Callable[[Viewer, ItemT, forms.Form], str],
) -> HttpResponse:
    """Run one action on one item, POSTed to its own address. `action` calls the service and returns the sentence
    to show ("Held. ..."); the service raises `items.refusal` to refuse, and the page shows why."""
    # Resolved without a "viewed" event: the service records the change in its own transaction, and a refused
    # change reads the item again below, which records the view.
    viewer, item = items.lookup(viewer=viewer, public_id=item_id, object_label=items.object_label, action=None)
    form = form_for(item)
    if form.is_valid():
        try:
            done = action(viewer, item, form)
        except items.refusal as refusal:
            form.add_error(None, str(refusal))
        else:
            messages.success(request, done)
            return HttpResponseRedirect(reverse(items.url_name, kwargs={items.id_kwarg: item_id}))
    _viewer, item = items.lookup(viewer=viewer, public_id=item_id, object_label=items.object_label)
    return items.page(request, item, failed=form, status=400)
