from django.urls import path

from careportal.patients import views

app_name = "patients"
urlpatterns = [
    path("your-details/", views.your_details, name="your-details"),
    path("your-details/address/", views.address, name="address"),
    path("your-details/mobile-phone/", views.mobile_phone, name="mobile-phone"),
    path("your-details/home-phone/", views.home_phone, name="home-phone"),
    path("your-details/email/", views.email, name="email"),
    path("your-details/email/check-your-email/", views.email_sent, name="email-sent"),
    path("your-details/email/resend/", views.email_resend, name="email-resend"),
    path("your-details/email/cancel/", views.email_cancel, name="email-cancel"),
    # The link emailed to a new address: the token is its only part, never anything about the patient.
    path("your-details/email/confirm/<str:token>/", views.email_confirm, name="email-confirm"),
    path("your-details/contact-preferences/", views.contact_preferences, name="contact-preferences"),
]
