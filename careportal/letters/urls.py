"""Letters: the patient's pages (/letters/) and the print room (/staff/letters/to-post/)."""

from django.urls import path

from careportal.letters import patient_views, print_room_views

app_name = "letters"
urlpatterns = [
    path("letters/", patient_views.letter_list, name="list"),
    path("letters/<uuid:public_id>/", patient_views.letter_detail, name="letter"),
    path("letters/<uuid:public_id>/view/", patient_views.letter_view, name="view"),
    path("letters/<uuid:public_id>/download/", patient_views.letter_download, name="download"),
    path("staff/letters/to-post/", print_room_views.to_post, name="to-post"),
    path("staff/letters/to-post/make-todays-list/", print_room_views.make_list, name="make-list"),
    path("staff/letters/to-post/<uuid:letter_id>/printed/", print_room_views.letter_printed, name="letter-printed"),
    path("staff/letters/to-post/exports/", print_room_views.export_start, name="export-start"),
    path("staff/letters/to-post/exports/<uuid:export_id>/", print_room_views.export_detail, name="export"),
    path(
        "staff/letters/to-post/exports/<uuid:export_id>/download/",
        print_room_views.export_download,
        name="export-download",
    ),
    path(
        "staff/letters/to-post/exports/<uuid:export_id>/printed/",
        print_room_views.export_printed,
        name="export-printed",
    ),
]
