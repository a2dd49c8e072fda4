"""A software passkey: what a phone or security key sends a browser during WebAuthn, built with fido2 and an
EC P-256 key, so that tests can add a passkey and sign in with it through allauth's real pages.

It answers the options allauth puts on the page (the JSON in <script id="js_data">) the way the browser's
`navigator.credentials.create()` / `.get()` would, with "none" attestation.
"""

import hashlib
import json
import os
import re
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.utils import websafe_encode
from fido2.webauthn import AttestationObject, AttestedCredentialData, AuthenticatorData, CollectedClientData

FLAGS = AuthenticatorData.FLAG


def js_data_on(page: str) -> dict[str, Any]:
    found = re.search(r'<script id="js_data" type="application/json">(.*?)</script>', page, re.S)
    assert found, "no WebAuthn options on the page"
    return json.loads(found.group(1))


class SoftwarePasskey:
    def __init__(self, origin: str = "http://testserver") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = os.urandom(32)
        self.origin = origin
        self.counter = 0

    def _ids(self) -> dict[str, str]:
        encoded = websafe_encode(self.credential_id)
        return {"id": encoded, "rawId": encoded, "type": "public-key"}

    def create(self, creation_options: dict[str, Any]) -> str:
        """The credential JSON for allauth's "Add a passkey" form."""
        options = creation_options["publicKey"]
        client_data = CollectedClientData.create(
            type="webauthn.create", challenge=options["challenge"], origin=self.origin
        )
        public_key = ES256.from_cryptography_key(self.key.public_key())
        attested = AttestedCredentialData.create(b"\0" * 16, self.credential_id, public_key)
        auth_data = AuthenticatorData.create(
            hashlib.sha256(options["rp"]["id"].encode()).digest(), FLAGS.UP | FLAGS.UV | FLAGS.AT, 0, attested
        )
        attestation = AttestationObject.create("none", auth_data, {})
        return json.dumps(
            {
                **self._ids(),
                "response": {"clientDataJSON": client_data.b64, "attestationObject": websafe_encode(attestation)},
                "clientExtensionResults": {},
            }
        )

    def get(self, request_options: dict[str, Any]) -> str:
        """The credential JSON for a passkey sign-in or reauthentication form."""
        options = request_options["publicKey"]
        client_data = CollectedClientData.create(
            type="webauthn.get", challenge=options["challenge"], origin=self.origin
        )
        self.counter += 1
        auth_data = AuthenticatorData.create(
            hashlib.sha256(options["rpId"].encode()).digest(), FLAGS.UP | FLAGS.UV, self.counter
        )
        signature = self.key.sign(auth_data + client_data.hash, ec.ECDSA(hashes.SHA256()))
        return json.dumps(
            {
                **self._ids(),
                "response": {
                    "clientDataJSON": client_data.b64,
                    "authenticatorData": websafe_encode(auth_data),
                    "signature": websafe_encode(signature),
                },
                "clientExtensionResults": {},
            }
        )
