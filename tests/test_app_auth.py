"""Team deployment: with OIDC configured, only signed-in users on the access list get in; viewers cannot change data."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.helpers import ROOT

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "x" * 32,
        "client_id": "marketlens", "client_secret": "s3cret",
        "server_metadata_url": "https://login.example.com/.well-known/openid-configuration"}
ACCESS = {"editors": ["ana@shop.example", "@team.example"], "viewers": ["@agency.example"]}


def run(user: dict, page: str | None = None, access: dict | None = ACCESS) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.secrets["auth"] = AUTH
    if access is not None:
        at.secrets["access"] = access
    at.user.update(user)
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, at.exception
    return at


def shows_no_data(at: AppTest) -> bool:
    return len(at.dataframe) == 0 and len(at.metric) == 0 and len(at.file_uploader) == 0


def test_signed_out_users_see_only_the_sign_in(sample_dataset):
    for page in (None, "pages/features.py"):
        at = run({"is_logged_in": False}, page)
        assert [b.label for b in at.button] == ["Sign in"]
        assert shows_no_data(at)


def test_signed_in_editors_get_the_app(sample_dataset):
    for user in ({"is_logged_in": True, "email": "ana@shop.example", "name": "Ana"},
                 {"is_logged_in": True, "email": "bo@team.example"}):
        at = run(user)
        local_part = user["email"].split("@")[0]
        assert any(local_part in c.value and "(editor)" in c.value for c in at.sidebar.caption)
        assert "Sign out" in [b.label for b in at.sidebar.button]
        delete = [b for b in at.button if b.label == "Delete dataset"][0]
        assert not at.file_uploader[0].disabled and not delete.disabled
    at = run({"is_logged_in": True, "email": "ana@shop.example"}, "pages/features.py")
    assert {m.label: m.value for m in at.metric}["Users"] == f"{sample_dataset.users:,}"


def test_accounts_not_on_the_list_are_refused_on_every_page(sample_dataset):
    for user in ({"is_logged_in": True, "email": "mallory@evil.example"},
                 {"is_logged_in": True, "email": "ana@shop.example.evil.example"},
                 {"is_logged_in": True, "email": "ana@shop.example", "email_verified": False},
                 {"is_logged_in": True, "name": "no e-mail"}):
        for page in (None, "pages/features.py", "pages/models.py"):
            at = run(user, page)
            assert any("not allowed" in e.value for e in at.error) and shows_no_data(at)
    # Without an access list nobody gets in: the identity provider accepts far more accounts than the team.
    at = run({"is_logged_in": True, "email": "ana@shop.example"}, access=None)
    assert any("not allowed" in e.value for e in at.error) and shows_no_data(at)


def test_viewers_look_but_do_not_change_shared_data(sample_dataset, workspace):
    at = run({"is_logged_in": True, "email": "eve@agency.example"})
    assert any("viewer" in c.value for c in at.sidebar.caption)
    assert at.file_uploader[0].disabled
    assert [b for b in at.button if b.label == "Delete dataset"][0].disabled
    assert [b for b in at.button if b.label == "Rename"][0].disabled
    at = run({"is_logged_in": True, "email": "eve@agency.example"}, "pages/segments.py")
    assert [b for b in at.button if b.label == "Segment"]  # analyses still run
    assert len(workspace.datasets()) == 1


def test_without_auth_config_the_app_is_open(sample_dataset):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert "Sign in" not in [b.label for b in at.button]
    assert len(at.file_uploader) == 1 and not at.file_uploader[0].disabled
