"""The pages the product's emails link to, in a real browser: register, sign out and in, reset
password from the mailed token, accept an invite; and CSRF refusals."""

from __future__ import annotations

import uuid

import httpx
from selenium.webdriver.common.by import By

from browser.conftest import Browser, mail_secret
from spectral.platform.identity.invites import INVITE_MAIL
from spectral.platform.identity.password_reset import RESET_MAIL

PASSWORD = "correct horse battery staple"
NEW_PASSWORD = "a different long passphrase"


def _email(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def register(browser: Browser, email: str, tenant: str = "Acme") -> str:
    browser.open("/register")
    browser.fill({"email": email, "password": PASSWORD, "tenant_name": tenant})
    browser.submit("email")
    browser.wait_for("section#cp-h, h2#cp-h")
    assert "/w/" in browser.driver.current_url
    return browser.driver.current_url.rsplit("/w/", 1)[1].split("/")[0]


def test_register_sign_out_and_reset_password(browser: Browser, pg_url: str) -> None:
    email = _email("reset")
    browser.open("/")
    assert browser.driver.current_url.endswith("/login")
    browser.shot("login")
    register(browser, email)
    browser.shot("home")
    session = browser.driver.get_cookie("spectral_session")
    assert session is not None
    assert session["httpOnly"]
    assert session["sameSite"] == "Lax"

    browser.click_and_wait(browser.driver.find_element(By.CSS_SELECTOR, "header form button"))
    browser.wait_for("form[action='/login']")
    assert browser.cookie("spectral_session") is None

    browser.open("/reset-password")
    browser.shot("reset-request")
    browser.fill({"email": email})
    browser.submit("email")
    assert "a reset link is on its way" in browser.text()

    token = mail_secret(pg_url, email, RESET_MAIL)
    browser.open(f"/reset-password?token={token}")
    browser.shot("reset-form")
    browser.fill({"new_password": NEW_PASSWORD, "confirm_password": "not the same one"})
    browser.submit("new_password")
    assert "The two passwords differ" in browser.text()
    browser.fill({"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD})
    browser.submit("new_password")
    assert "Your password is changed" in browser.text()
    browser.shot("reset-done")

    # The used token is spent: the page shows the API's refusal, not a success.
    browser.open(f"/reset-password?token={token}")
    browser.fill({"new_password": PASSWORD, "confirm_password": PASSWORD})
    browser.submit("new_password")
    assert "Your password is changed" not in browser.text()
    assert browser.driver.find_element(By.CSS_SELECTOR, "[role=alert]").text

    browser.open("/login")
    browser.fill({"email": email, "password": PASSWORD})
    browser.submit("email")
    assert "/w/" not in browser.driver.current_url
    assert browser.driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    browser.fill({"email": email, "password": NEW_PASSWORD})
    browser.submit("email")
    browser.wait_for("h2#cp-h")


def test_invite_page_registers_the_invitee_into_the_workspace(
    browser: Browser, console_url: str, pg_url: str
) -> None:
    owner = _email("owner")
    with httpx.Client(base_url=console_url) as api:
        created = api.post(
            "/api/v1/auth/register", json={"email": owner, "password": PASSWORD, "tenant_name": "Inviters"}
        ).json()
        headers = {"Authorization": f"Bearer {created['access_token']}"}
        invitee = _email("invitee")
        invited = api.post(
            "/api/v1/account/invites",
            json={"email": invitee, "workspace_roles": {created["workspace_id"]: "viewer"}},
            headers=headers,
        )
        assert invited.status_code == 201, invited.text
    token = mail_secret(pg_url, invitee, INVITE_MAIL)

    browser.open(f"/invites/accept?token={token}")
    browser.shot("invite")
    browser.click_and_wait(browser.driver.find_element(By.PARTIAL_LINK_TEXT, "Create your account"))
    browser.fill({"email": invitee, "password": PASSWORD, "tenant_name": "ignored"})
    browser.shot("invite-register")
    browser.submit("email")
    browser.wait_for("h2#cp-h")
    assert f"/w/{created['workspace_id']}" in browser.driver.current_url
    assert "(viewer)" in browser.text()


def test_oauth_callback_without_a_code_is_a_page_not_a_404(browser: Browser) -> None:
    browser.open("/auth/callback?error=access_denied")
    assert "The provider refused the sign-in: access_denied" in browser.text()
    browser.shot("oauth-callback")


def test_forms_without_a_valid_csrf_token_are_refused(console_url: str) -> None:
    email = _email("csrf")
    with httpx.Client(base_url=console_url) as client:
        created = client.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD, "tenant_name": "C"}
        ).json()
        ws = created["workspace_id"]
        headers = {"Authorization": f"Bearer {created['access_token']}"}
        client.cookies.set("spectral_session", created["access_token"])
        page = client.get(f"/w/{ws}/agents")
        assert page.status_code == 200
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        agent = {"name": "Forged", "slug": "forged"}

        missing = client.post(f"/w/{ws}/agents", data=agent)
        wrong = client.post(f"/w/{ws}/agents", data={**agent, "csrf_token": "0" * 64})
        cross_site = client.post(
            f"/w/{ws}/agents", data={**agent, "csrf_token": token}, headers={"Origin": "https://evil.example"}
        )
        # The nonce lives in the browser's cookie: a token lifted from another browser is useless.
        stranger = httpx.Client(base_url=console_url, cookies={"spectral_session": created["access_token"]})
        with stranger:
            lifted = stranger.post(f"/w/{ws}/agents", data={**agent, "csrf_token": token})
        for refused in (missing, wrong, cross_site, lifted):
            assert refused.status_code == 403, (refused.request.content, refused.text[-1500:])
            assert "CSRF" in refused.text or "Cross-site" in refused.text
        assert client.get(f"/api/v1/workspaces/{ws}/agents", headers=headers).json()["results"] == []
        # Signing in is a state change too.
        assert client.post("/login", data={"email": email, "password": PASSWORD}).status_code == 403

        accepted = client.post(f"/w/{ws}/agents", data={**agent, "csrf_token": token})
        assert accepted.status_code == 303
        names = [
            a["name"]
            for a in client.get(f"/api/v1/workspaces/{ws}/agents", headers=headers).json()["results"]
        ]
        assert names == ["Forged"]
