"""Register a SMART on FHIR app: `manage.py fhir_app_register --name "My app" --redirect-uri https://... [--public]`.

Prints the client id and, for a confidential app, its secret: once only, as the secret is stored hashed.
"""

from django.core.management.base import BaseCommand, CommandError, CommandParser

from careportal.fhir.registration import smart_app_register


class Command(BaseCommand):
    help = "Register a SMART on FHIR app (an OAuth client) and print its client id (and secret, once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="The app's name, as patients will see it.")
        parser.add_argument(
            "--redirect-uri", action="append", required=True, dest="redirect_uris", help="Repeat for several."
        )
        kind = parser.add_mutually_exclusive_group()
        kind.add_argument("--public", action="store_true", help="A public client (phone or browser app): no secret.")
        kind.add_argument("--confidential", action="store_true", help="A confidential client (the default).")

    def handle(self, *args: object, **options: object) -> None:
        try:
            registered = smart_app_register(
                name=str(options["name"]),
                redirect_uris=list(options["redirect_uris"]),  # type: ignore[call-overload]
                confidential=not options["public"],
            )
        except ValueError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"client_id: {registered.application.client_id}")
        if registered.client_secret:
            self.stdout.write(f"client_secret: {registered.client_secret}")
            self.stdout.write("Keep the secret safe: it is stored hashed and cannot be shown again.")
