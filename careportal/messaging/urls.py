"""Messages: the patient's pages (/messages/) and the care teams' inbox (/staff/messages/)."""

from careportal.messaging import urls_inbox, urls_patient

app_name = "messaging"
urlpatterns = [*urls_patient.urlpatterns, *urls_inbox.urlpatterns]
