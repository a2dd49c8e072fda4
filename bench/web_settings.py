"""Django settings for the web benchmark's server (bench/bench_web.py): the product's own settings, plus

- a bare view at /bench/bare/ (bench/web_urls.py) behind the same middleware, the ceiling for the page rows;
- a password hasher that counts every hash it computes or checks (in the file named by BENCH_HASH_COUNT_FILE, one
  byte per hash, appended, so that every server process and thread adds to the same count), to show how many
  sign-in attempts under attack reached the password hasher.

Never used outside the benchmark.
"""

from careportal.config.settings.base import *  # noqa: F403 - the product's settings, changed only as above
from careportal.config.settings.base import PASSWORD_HASHERS

ROOT_URLCONF = "bench.web_urls"
# Replaces Argon2 rather than adding to it: Django finds the hasher for a stored hash by its algorithm name, and the
# last one of that name in the list would win.
PASSWORD_HASHERS = [
    "bench.web_urls.CountingArgon2PasswordHasher",
    *(name for name in PASSWORD_HASHERS if not name.endswith(".Argon2PasswordHasher")),
]
