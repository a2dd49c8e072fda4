"""A test-only app: Django's `flush` (run after every transactional test) with the audit tables' append-only
triggers suspended for its length. Production keeps the plain `flush`, which the triggers refuse."""
