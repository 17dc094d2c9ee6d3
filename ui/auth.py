"""Sign-in for team deployments: Streamlit's built-in OIDC login (``st.login``).

When ``.streamlit/secrets.toml`` has an ``[auth]`` section, every page requires
a signed-in user; without it (a laptop, localhost only) the app is open.
"""

from __future__ import annotations

import streamlit as st


def auth_configured() -> bool:
    try:
        return "auth" in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all raises; that means no auth
        return False


def require_login() -> None:
    """Stop the script with a sign-in screen unless auth is off or the user is signed in."""
    if not auth_configured():
        return
    if not st.user.is_logged_in:
        st.title("MarketLens")
        st.write("Sign in with your organisation account to continue.")
        st.button("Sign in", type="primary", on_click=st.login, icon=":material/login:")
        st.stop()



def account_box() -> None:
    """Who is signed in, and a way out (sidebar, only when auth is configured)."""
    if auth_configured() and st.user.is_logged_in:
        st.sidebar.caption(f"Signed in as {st.user.get('email') or st.user.get('name') or 'you'}")
        st.sidebar.button("Sign out", on_click=st.logout, icon=":material/logout:")
