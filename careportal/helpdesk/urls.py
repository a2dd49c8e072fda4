"""The helpdesk console under /staff/helpdesk/, and the page people see after sending a request for help.

Accounts, patients, requests and notifications are addressed by their public ids, never by a username, hospital
number or NHS number; searches are POSTed, so no identifier reaches a URL.
"""

from django.urls import path

from careportal.helpdesk.views import accounts, notifications, proxy, support

app_name = "helpdesk"
urlpatterns = [
    path("get-help/request-sent/", support.support_request_sent, name="support-request-sent"),
    path("staff/helpdesk/", accounts.console_home, name="home"),
    path("staff/helpdesk/accounts/", accounts.search, name="search"),
    path("staff/helpdesk/accounts/<uuid:account_id>/", accounts.account, name="account"),
    path("staff/helpdesk/accounts/<uuid:account_id>/unlock/", accounts.account_unlock, name="account-unlock"),
    path(
        "staff/helpdesk/accounts/<uuid:account_id>/reset-two-step/",
        accounts.account_reset_two_step,
        name="account-reset-two-step",
    ),
    path("staff/helpdesk/patients/<uuid:patient_id>/", accounts.patient, name="patient"),
    path(
        "staff/helpdesk/patients/<uuid:patient_id>/activation-code/",
        accounts.patient_activation_code,
        name="patient-activation-code",
    ),
    path("staff/helpdesk/requests/", support.queue, name="requests"),
    path("staff/helpdesk/requests/<uuid:request_id>/", support.request_detail, name="request"),
    path("staff/helpdesk/requests/<uuid:request_id>/take/", support.request_assign, name="request-assign"),
    path("staff/helpdesk/requests/<uuid:request_id>/reply/", support.request_reply, name="request-reply"),
    path("staff/helpdesk/requests/<uuid:request_id>/close/", support.request_close, name="request-close"),
    path("staff/helpdesk/notifications/", notifications.notifications, name="notifications"),
    path(
        "staff/helpdesk/notifications/<uuid:notification_id>/retry/",
        notifications.notification_retry,
        name="notification-retry",
    ),
    # Proxy access: applications to decide, relationships, and set-up with the patient's consent (views/proxy.py).
    path("staff/helpdesk/proxy-requests/", proxy.proxy_requests, name="proxy-requests"),
    path("staff/helpdesk/proxy-requests/<uuid:relationship_id>/", proxy.proxy_request, name="proxy-request"),
    path("staff/helpdesk/proxy-access/<uuid:relationship_id>/", proxy.proxy_relationship, name="proxy-relationship"),
    path(
        "staff/helpdesk/proxy-access/<uuid:relationship_id>/sensitive/",
        proxy.proxy_relationship_sensitive,
        name="proxy-relationship-sensitive",
    ),
    path(
        "staff/helpdesk/proxy-access/<uuid:relationship_id>/end/",
        proxy.proxy_relationship_end,
        name="proxy-relationship-end",
    ),
    path(
        "staff/helpdesk/patients/<uuid:patient_id>/proxy-access/new/",
        proxy.patient_proxy_new,
        name="patient-proxy-new",
    ),
]
