"""The RSA key that signs OpenID Connect ID tokens (SMART's `sso-openid-connect`), read by the settings.

Production reads it from the environment (`OIDC_RSA_PRIVATE_KEY`, or a file named by `OIDC_RSA_PRIVATE_KEY_FILE`);
without one, OpenID Connect is off and apps get no ID token. Development and tests generate a key once and keep it
in a file under var/private/ (never committed: var/ is in .gitignore), so ID tokens stay verifiable across restarts.
Several processes starting together agree on one key: the file appears atomically (written aside, then linked).
"""

import os
import re
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


def generate_rsa_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def cached_development_key(path: Path) -> str:
    """The key kept at `path`, generated and stored (mode 0600) on first use."""
    if path.exists():
        return path.read_text()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    aside = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(generate_rsa_private_key_pem())
    try:
        os.link(aside, path)
    except FileExistsError:
        pass  # another process got there first: use its key
    finally:
        aside.unlink(missing_ok=True)
    return path.read_text()


def pem_blocks(text: str) -> list[str]:
    """The PEM private keys in `text` (one or more blocks, as an environment variable or a file holds them; "\\n"
    stands for a line break in a one-line variable)."""
    text = text.replace("\\n", "\n")
    return [block + "\n" for block in re.findall(r"-----BEGIN [A-Z ]+-----.*?-----END [A-Z ]+-----", text, re.S)]
