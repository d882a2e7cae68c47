"""A stand-in OAuth issuer on 127.0.0.1 for the remote-mode tests: it publishes a JSON Web Key Set over real
HTTP and signs access tokens with the matching private key."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

RESOURCE = "http://localhost:8000/mcp"  # the audience tokens are for: the MCP server as its clients name it


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    url: str
    key: rsa.RSAPrivateKey = field(default_factory=new_key)
    kid: str = "key-1"
    retired: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)  # still published, no longer signing
    fetches: int = 0  # how many times the key set was read

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/jwks.json"

    def jwks(self) -> dict[str, Any]:
        keys = self.retired | {self.kid: self.key}
        return {
            "keys": [
                json.loads(RSAAlgorithm.to_jwk(key.public_key())) | {"kid": kid, "use": "sig", "alg": "RS256"}
                for kid, key in keys.items()
            ]
        }

    def rotate(self, kid: str) -> None:
        """Sign with a new key `kid` from now on; the old one stays published (as issuers do for a while)."""
        self.retired[self.kid] = self.key
        self.key, self.kid = new_key(), kid

    def token(
        self, subject: str, *, key: rsa.RSAPrivateKey | None = None, kid: str | None = None, **claims: Any
    ) -> str:
        """An access token for `subject`, valid for ten minutes; `claims` override (exp, iss, aud...)."""
        now = int(time.time())
        body = {"iss": self.url, "aud": RESOURCE, "sub": subject, "iat": now, "exp": now + 600} | claims
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    issuer = Issuer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(issuer.jwks()).encode() if self.path == "/jwks.json" else b"{}"
            issuer.fetches += self.path == "/jwks.json"
            self.send_response(200 if self.path == "/jwks.json" else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
