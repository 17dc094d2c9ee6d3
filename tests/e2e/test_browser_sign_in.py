"""Sign-in as the README's "Serving a team" sets it up: OIDC through Authlib, then the access list decides."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import free_port, running_server
from tests.e2e.oidc_stub import OidcStub

pytestmark = pytest.mark.e2e


def secrets_file(tmp_path, port: int, idp: OidcStub):
    path = tmp_path / "secrets.toml"
    path.write_text(f'''[auth]
redirect_uri = "http://localhost:{port}/oauth2callback"
cookie_secret = "{"c" * 40}"
client_id = "{idp.client_id}"
client_secret = "stub-secret"
server_metadata_url = "{idp.metadata_url}"

[access]
editors = ["@shop.example"]
viewers = ["@agency.example"]
''')
    return path


@pytest.mark.parametrize("email, allowed", [("ana@shop.example", "editor"), ("eve@elsewhere.example", None)])
def test_sign_in_through_an_identity_provider(browser, tmp_path, email, allowed):
    with OidcStub(email=email) as idp:
        port = free_port()
        env = {"STREAMLIT_SECRETS_FILES": str(secrets_file(tmp_path, port, idp))}
        with running_server(tmp_path / "ws", port, env, host="localhost") as url:
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_role("button", name="Sign in").click()  # to the stub and straight back
            if allowed:
                page.get_by_text(f"({allowed})").wait_for()
                page.get_by_role("heading", name="Upload a behaviour log").wait_for()
                page.get_by_role("button", name="Sign out").click()
                page.get_by_role("button", name="Sign in").wait_for()
            else:
                page.get_by_text("not allowed to use MarketLens").wait_for()
                assert page.get_by_role("heading", name="Upload a behaviour log").count() == 0
            assert idp.logins == 1
            context.close()
