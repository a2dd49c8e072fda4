# The project's log capture (every logger at DEBUG, through the project's formatter), for tests/helpdesk/test_logs.py.
from tests.core.test_logging import captured_logs  # noqa: F401
