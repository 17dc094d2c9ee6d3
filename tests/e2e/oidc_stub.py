"""A minimal OpenID Connect provider on localhost, for testing sign-in without the internet.

It implements the authorization-code flow Streamlit's ``st.login`` (Authlib) uses:
discovery, authorize (signs the user in at once as the configured account),
token (an RS256-signed ID token with the nonce it was given) and the key set.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from joserfc import jwt
from joserfc.jwk import RSAKey


class OidcStub:
    """``with OidcStub(email=...) as idp:`` then point ``server_metadata_url`` at ``idp.metadata_url``."""

    def __init__(self, email: str, client_id: str = "marketlens", name: str = "Test User"):
        self.email, self.client_id, self.name = email, client_id, name
        self.key = RSAKey.generate_key(2048, private=True)
        self.codes: dict[str, str] = {}  # code -> nonce
        self.logins = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/.well-known/openid-configuration"

    def __enter__(self) -> OidcStub:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()

    def _id_token(self, nonce: str) -> str:
        now = int(time.time())
        claims = {"iss": self.base, "sub": "user-1", "aud": self.client_id, "iat": now, "exp": now + 600,
                  "nonce": nonce, "email": self.email, "email_verified": True, "name": self.name}
        return jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.key)

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def _json(self, payload: dict) -> None:
                body = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                url = urllib.parse.urlparse(self.path)
                query = dict(urllib.parse.parse_qsl(url.query))
                if url.path == "/.well-known/openid-configuration":
                    self._json({"issuer": stub.base, "authorization_endpoint": f"{stub.base}/authorize",
                                "token_endpoint": f"{stub.base}/token", "jwks_uri": f"{stub.base}/jwks",
                                "userinfo_endpoint": f"{stub.base}/userinfo", "response_types_supported": ["code"],
                                "subject_types_supported": ["public"],
                                "id_token_signing_alg_values_supported": ["RS256"],
                                "scopes_supported": ["openid", "email", "profile"]})
                elif url.path == "/authorize":
                    code = f"code-{len(stub.codes)}"
                    stub.codes[code] = query.get("nonce", "")
                    stub.logins += 1
                    target = query["redirect_uri"] + "?" + urllib.parse.urlencode(
                        {"code": code, "state": query.get("state", "")})
                    self.send_response(302)
                    self.send_header("Location", target)
                    self.end_headers()
                elif url.path == "/jwks":
                    self._json({"keys": [stub.key.as_dict(private=False) | {"kid": "k1", "use": "sig",
                                                                             "alg": "RS256"}]})
                elif url.path == "/userinfo":
                    self._json({"sub": "user-1", "email": stub.email, "email_verified": True, "name": stub.name})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
                if self.path.startswith("/token") and form.get("code") in stub.codes:
                    self._json({"access_token": "access", "token_type": "Bearer", "expires_in": 600,
                                "id_token": stub._id_token(stub.codes.pop(form["code"]))})
                else:
                    self.send_error(400)

        return Handler
