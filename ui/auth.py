"""Sign-in and authorisation for team deployments: Streamlit's built-in OIDC login (``st.login``).

When ``.streamlit/secrets.toml`` has an ``[auth]`` section, every page requires a
signed-in user whom the ``[access]`` section lets in::

    [access]
    editors = ["ana@shop.example", "@shop.example"]   # e-mails, or "@domain" for everyone there
    viewers = ["@agency.example"]                      # may look and analyse, not change datasets

Editors may import, connect, rename and delete datasets and save or delete
segmentations, models and audiences; viewers may use every page but not change
what the team shares. Without an ``[access]`` section nobody gets in (the
identity provider may accept far more accounts than the team). Without ``[auth]``
(a laptop, localhost only) the app is open and everyone is an editor.
"""

from __future__ import annotations

import streamlit as st

from ui.escape import plain

EDITOR, VIEWER = "editor", "viewer"


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all raises; that means no auth
        return False


def _access() -> dict:
    try:
        return dict(st.secrets.get("access", {}))
    except Exception:  # noqa: BLE001
        return {}


def _matches(email: str, entries) -> bool:
    email = email.strip().lower()
    for entry in entries or []:
        entry = str(entry).strip().lower()
        if entry == email or (entry.startswith("@") and email.endswith(entry)):
            return True
    return False


def role_of(email: str | None, verified: bool = True) -> str | None:
    """``"editor"``, ``"viewer"`` or None (not allowed) for a signed-in e-mail address."""
    if not email or not verified:
        return None
    access = _access()
    if _matches(email, access.get("editors")):
        return EDITOR
    if _matches(email, access.get("viewers")):
        return VIEWER
    return None


def role() -> str:
    """This session's role: everyone is an editor when sign-in is off."""
    if not auth_configured():
        return EDITOR
    return role_of(st.user.get("email"), st.user.get("email_verified", True) is not False) or ""


def can_edit() -> bool:
    """May this session change what the team shares (datasets, saved results)?"""
    return role() == EDITOR


READ_ONLY_HELP = "Your account may look and analyse but not change the team's datasets and saved results."


def require_login() -> None:
    """Stop the script with a sign-in screen unless auth is off, or the user is signed in and allowed."""
    if not auth_configured():
        return
    if not st.user.is_logged_in:
        st.title("MarketLens")
        st.write("Sign in with your organisation account to continue.")
        st.button("Sign in", type="primary", on_click=st.login, icon=":material/login:")
        st.stop()
    if not role():
        st.title("MarketLens")
        st.error("This account is not allowed to use MarketLens here. Ask the administrator to add it to the "
                 "editors or viewers list.", icon=":material/block:")
        st.text(f"Signed in as {st.user.get('email') or 'an account without an e-mail address'}")
        st.button("Sign out", on_click=st.logout, icon=":material/logout:")
        st.stop()


def account_box() -> None:
    """Who is signed in, with which role, and a way out (sidebar, only when auth is configured)."""
    if auth_configured() and st.user.is_logged_in:
        who = st.user.get("email") or st.user.get("name") or "you"
        st.sidebar.caption(f"Signed in as {plain(who)} ({role() or 'not allowed'})")
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")
