"""Schemathesis hooks for the relay: sign every request the way a device does.

Loaded through SCHEMATHESIS_HOOKS by scripts/schemathesis.sh for the signed pass.
The profile is the one in core/src/sync/signing.rs (RFC 9421 with an RFC 9530
Content-Digest, ADR 0006 §3):

    signature base (lines joined by "\n"):
        "@method": <METHOD>
        "@path": <raw path>
        "@query": ?<raw query>
        "content-digest": sha-256=:<base64 sha256(body)>:
        "@signature-params": <params>
    params = ("@method" "@path" "@query" "content-digest");created=<unix s>;
             nonce="<b64url 16 bytes>";keyid="<b64url ed25519 public key>";
             alg="ed25519";tag="collabzium-v1"
    headers: content-digest, signature-input: sig1=<params>,
             signature: sig1=:<base64 signature>:

The signature is made in a `requests` auth handler, on the prepared request,
so it covers the exact method, path, query and body bytes that are sent.
"""

import base64
import hashlib
import os
import time
from urllib.parse import urlsplit

import requests
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

COMPONENTS = '("@method" "@path" "@query" "content-digest")'
TAG = "collabzium-v1"

# One device per run; a fresh key each run keeps runs independent.
_KEY = Ed25519PrivateKey.generate()


def _keyid(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def sign(key, method: str, path: str, query: str, body: bytes, created: int) -> dict:
    """The three signature headers for one request."""
    digest = f"sha-256=:{_b64(hashlib.sha256(body).digest())}:"
    nonce = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    params = (
        f'{COMPONENTS};created={created};nonce="{nonce}";keyid="{_keyid(key)}";'
        f'alg="ed25519";tag="{TAG}"'
    )
    base = (
        f'"@method": {method.upper()}\n'
        f'"@path": {path}\n'
        f'"@query": ?{query}\n'
        f'"content-digest": {digest}\n'
        f'"@signature-params": {params}'
    )
    signature = key.sign(base.encode())
    return {
        "content-digest": digest,
        "signature-input": f"sig1={params}",
        "signature": f"sig1=:{_b64(signature)}:",
    }


class DeviceSignature(requests.auth.AuthBase):
    """Signs the prepared request, replacing any generated signature headers."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        if not urlsplit(r.url).path.startswith("/v1/"):
            return r
        body = r.body or b""
        if isinstance(body, str):
            body = body.encode()
        path, _, query = r.path_url.partition("?")
        # Revoking itself would leave the run's device refused (401) for
        # everything after; that request gets a throwaway device.
        key = _KEY
        if r.method == "DELETE" and path == "/v1/devices/self":
            key = Ed25519PrivateKey.generate()
        for name, value in sign(key, r.method, path, query, body, int(time.time())).items():
            r.headers[name] = value
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    kwargs["auth"] = DeviceSignature()
