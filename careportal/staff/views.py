from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from careportal.access.decorators import staff_area
from careportal.access.layer import Viewer
from careportal.hl7.interface_admin import can_manage_interfaces
from careportal.letters.access import may_work_print_room
from careportal.results.release_rules import can_manage_release_rules
from careportal.staff.presenters import membership_table_rows
from careportal.staff.selectors import (
    hl7_messages_needing_attention,
    hl7_outbound_counts,
    memberships_for,
    message_counts,
    unreviewed_results_count,
)


@staff_area
def staff_home(request: HttpRequest, viewer: Viewer) -> HttpResponse:
    memberships = list(memberships_for(user=viewer.user))
    # An integration administrator works with hospital systems, and the print room with letters to post: no care
    # team, no inboxes.
    print_room = may_work_print_room(viewer.user)
    no_inboxes = not (memberships or viewer.user.is_helpdesk or viewer.user.is_superuser)
    integration_only = no_inboxes and viewer.user.has_perm("hl7.change_inboundmessage")
    return render(
        request,
        "staff/home.jinja",
        {
            "page_title": "Staff console",
            "viewer": viewer,
            "membership_rows": membership_table_rows(memberships),
            "integration_only": integration_only,
            # None when the person has no results inbox (the helpdesk) or may not see the HL7 queue.
            "print_room_only": no_inboxes and not integration_only and print_room,
            "unreviewed_results": None if no_inboxes else unreviewed_results_count(viewer=viewer),
            # None when the person has no message inbox (the helpdesk).
            "message_counts": None if no_inboxes else message_counts(viewer=viewer),
            "print_room": print_room,
            "can_keep_urgent_phrases": viewer.user.is_superuser or viewer.user.is_helpdesk,
            "hl7_attention": hl7_messages_needing_attention(user=viewer.user),
            "hl7_outbound": hl7_outbound_counts(user=viewer.user),
            "can_manage_release_rules": can_manage_release_rules(viewer.user),
            "can_manage_interfaces": can_manage_interfaces(viewer.user),
        },
    )
