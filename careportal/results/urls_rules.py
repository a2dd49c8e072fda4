"""Release rules and bank holidays, for those who configure the trust (careportal/results/rule_views.py).

Rules and bank holidays are addressed by their database id: neither is patient data.
"""

from django.urls import path

from careportal.results import rule_views

urlpatterns = [
    path("staff/results/rules/", rule_views.rules, name="rules"),
    path("staff/results/rules/add/", rule_views.rule_add, name="rule-add"),
    path("staff/results/rules/<int:pk>/", rule_views.rule_edit, name="rule-edit"),
    path("staff/results/rules/<int:pk>/delete/", rule_views.rule_delete, name="rule-delete"),
    path("staff/results/bank-holidays/", rule_views.bank_holidays, name="bank-holidays"),
    path("staff/results/bank-holidays/<int:pk>/delete/", rule_views.bank_holiday_delete, name="bank-holiday-delete"),
]
