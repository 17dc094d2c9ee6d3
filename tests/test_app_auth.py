"""Team deployment: with OIDC configured in secrets, no page shows anything before sign-in."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "marketlens", "client_secret": "s3cret",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}


def run(user: dict, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["auth"] = AUTH
    at.user.update(user)
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def test_signed_out_users_see_only_the_sign_in(sample_dataset):
    for page in (None, "pages/features.py"):
        at = run({"is_logged_in": False}, page)
        assert [b.label for b in at.button] == ["Sign in"]
        assert len(at.dataframe) == 0 and len(at.metric) == 0 and len(at.file_uploader) == 0


def test_signed_in_users_get_the_app(sample_dataset):
    user = {"is_logged_in": True, "email": "ana@example.com", "name": "Ana"}
    at = run(user)
    assert any("ana@example.com" in c.value for c in at.sidebar.caption)
    assert "Sign out" in [b.label for b in at.sidebar.button]
    at = run(user, "pages/features.py")
    assert {m.label: m.value for m in at.metric}["Users"] == f"{sample_dataset.users:,}"


def test_without_auth_config_the_app_is_open(sample_dataset):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert "Sign in" not in [b.label for b in at.button]
    assert len(at.file_uploader) == 1
