from django.core.management.base import BaseCommand

from careportal.demo.letters import demo_letters_load
from careportal.demo.messages import demo_messages_load
from careportal.demo.results import demo_results_load
from careportal.demo.services import demo_trust_load


class Command(BaseCommand):
    help = (
        "Load the demo trust, its test results, letters and a message thread (development only). Safe to run again: "
        "existing demo data is left as it is."
    )

    def handle(self, *args: object, **options: object) -> None:
        created = demo_trust_load()
        if any(created.values()):
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo trust loaded: {created['care_teams']} care teams, {created['patients']} patients, "
                    f"{created['users']} accounts. Demo password: see README.md."
                )
            )
        else:
            self.stdout.write("Demo trust already loaded; nothing changed.")
        outcomes = demo_results_load()
        applied = outcomes.get("applied", 0)
        if applied:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo test results: {applied} lab messages applied through the HL7 interface, "
                    f"{outcomes['released']} reports released."
                )
            )
        else:
            self.stdout.write("Demo test results already loaded; nothing changed.")
        letters = demo_letters_load()
        if letters["applied"]:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo letters: {letters['applied']} letters applied through the HL7 interface "
                    "(one paperless for demo.patient, one on the print room's list)."
                )
            )
        else:
            self.stdout.write("Demo letters already loaded; nothing changed.")
        threads = demo_messages_load()["threads"]
        if threads:
            self.stdout.write(
                self.style.SUCCESS("Demo messages: a conversation between demo.patient and Haematology, with a reply.")
            )
        else:
            self.stdout.write("Demo messages already loaded; nothing changed.")
