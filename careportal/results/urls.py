"""Test results: the patient's pages (/test-results/), the clinicians' results inbox and the release rules
(/staff/results/). Each group of pages keeps its own list here so that they stay easy to find."""

from careportal.results import urls_inbox, urls_patient, urls_rules

app_name = "results"
urlpatterns = [*urls_patient.urlpatterns, *urls_inbox.urlpatterns, *urls_rules.urlpatterns]
