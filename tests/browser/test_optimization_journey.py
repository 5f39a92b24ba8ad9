"""The console's main journey in headless Chromium: register -> create agent and key -> traces
through the API -> start a scan and watch it finish -> open the recommended change set ->
accept -> apply -> rollback; and a viewer who sees no decision buttons and is refused a post."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from selenium.webdriver.common.by import By

from browser.conftest import Browser, chromium, mail_secret
from browser.test_auth_pages import PASSWORD, register
from spectral.platform.identity.invites import INVITE_MAIL
from spectral_cli.demo.workspace import DemoWorkspace, demo_workspace

SCAN_TIMEOUT_S = 300


@dataclass
class Journey:
    browser: Browser
    api: httpx.Client
    ws: str
    headers: dict[str, str]
    agent_id: str

    @property
    def base(self) -> str:
        return f"/api/v1/workspaces/{self.ws}"

    def agent(self) -> dict[str, object]:
        found: dict[str, object] = self.api.get(
            f"{self.base}/agents/{self.agent_id}", headers=self.headers
        ).json()
        return found

    def changeset(self, changeset_id: str) -> dict[str, object]:
        found: dict[str, object] = self.api.get(
            f"{self.base}/changesets/{changeset_id}", headers=self.headers
        ).json()
        return found


@pytest.fixture(scope="module")
def demo() -> DemoWorkspace:
    return demo_workspace(7, n_traces=900)


@pytest.fixture(scope="module")
def owner(
    console_url: str, replay_url: str, demo: DemoWorkspace, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Journey]:
    shots = tmp_path_factory.mktemp("journey-screenshots")
    driver = chromium(1280, 1000)
    browser = Browser(driver, console_url, shots)
    email = f"owner-{uuid.uuid4().hex[:10]}@example.com"
    try:
        with httpx.Client(base_url=console_url, timeout=60) as api:
            ws = register(browser, email)
            token = api.post("/api/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
            headers = {"Authorization": f"Bearer {token['access_token']}"}

            # The agent, created in the console with the demo's initial config.
            payload = demo.agent_payload(replay_url)
            browser.open(f"/w/{ws}/agents")
            browser.fill({"name": payload["name"], "slug": payload["slug"], "replay_url": replay_url})
            browser.set_value("config", json.dumps(payload["config"]))
            browser.shot("agents-new")
            browser.submit("name")
            agent_id = browser.driver.current_url.rsplit("/agents/", 1)[1]
            assert "v1" in browser.text()
            browser.shot("agent")
            yield Journey(browser, api, ws, headers, agent_id)
    finally:
        driver.quit()


def test_register_agent_key_traces_scan_and_changeset_lifecycle(owner: Journey, demo: DemoWorkspace) -> None:
    browser, api, base, h = owner.browser, owner.api, owner.base, owner.headers

    # An API key: the secret is shown once, then only its prefix.
    browser.open(f"/w/{owner.ws}/keys")
    browser.fill({"key-name": "support agent"})
    browser.submit("key-name")
    secret = str(browser.driver.find_element(By.ID, "secret").get_attribute("value"))
    assert secret.startswith("sk_live_")
    browser.shot("key-created")
    browser.open(f"/w/{owner.ws}/keys")
    assert secret not in browser.driver.page_source
    assert "support agent" in browser.text()

    # Traffic and feedback arrive through the API, with that key and the owner's token.
    key = {"Authorization": f"Bearer {secret}"}
    for spans in demo.span_batches():
        sent = api.post(f"{base}/traces", json={"spans": spans}, headers=key)
        assert sent.status_code in (200, 202), sent.text
    for trace_id, value in demo.feedback():
        given = api.post(
            f"{base}/traces/{trace_id}/feedback", json={"kind": "score", "value": value}, headers=h
        )
        assert given.status_code == 201, given.text
    rubric = api.post(f"{base}/evaluations/rubrics", json=demo.rubric_payload(), headers=h).json()
    objective = api.post(
        f"{base}/evaluations/objectives", json=demo.objective_payload(rubric["id"]), headers=h
    )
    assert objective.status_code == 201, objective.text
    guardrails = {"max_cost_increase_pct": 60, "max_latency_increase_pct": 60}
    autonomy = api.put(f"{base}/autonomy", json={"level": "suggest", "guardrails": guardrails}, headers=h)
    assert autonomy.status_code == 200, autonomy.text

    browser.open(f"/w/{owner.ws}/traces")
    assert "900 traces" in browser.text() or "traces." in browser.text()
    browser.shot("traces")
    browser.click_and_wait(browser.driver.find_element(By.CSS_SELECTOR, "tbody a"))
    assert "Spans" in browser.text()
    browser.fill({"fb-comment": "clear answer"})
    browser.click_and_wait(browser.driver.find_element(By.ID, "thumbs-up"))
    assert "thumbs: " in browser.text()
    assert "clear answer" in browser.text()
    browser.shot("trace")

    # The scan, started and followed in the console until it finishes.
    browser.open(f"/w/{owner.ws}/scans")
    browser.fill({"seed": "3"})
    browser.shot("scans")
    browser.submit("seed")
    browser.shot("scan-started")
    browser.wait_for("p.ok a[href$='/report']", timeout=SCAN_TIMEOUT_S)
    assert "succeeded" in browser.text()
    browser.shot("scan-finished")
    scan_url = browser.driver.current_url
    browser.open(scan_url.split(browser.base, 1)[1] + "/report")
    browser.shot("scan-report")

    # The recommended change set, judged on its page.
    browser.open(scan_url.split(browser.base, 1)[1])
    link = browser.driver.find_element(By.XPATH, "//li[span[contains(@class, 'b-recommend')]]/a")
    browser.click_and_wait(link)
    changeset_id = browser.driver.current_url.rsplit("/changesets/", 1)[1]
    text = browser.text()
    for heading in ("Why", "What changes", "Validation", "95% CI", "Holdout", "Failure clusters addressed"):
        assert heading in text
    browser.shot("changeset")
    browser.open(f"/w/{owner.ws}/changesets?verdict=recommend")
    browser.shot("changesets")
    browser.open(f"/w/{owner.ws}/changesets/{changeset_id}")

    before = owner.agent()["active_version"]
    for action, status in (("accept", "accepted"), ("apply", "applied"), ("rollback", "rolled_back")):
        browser.click_and_wait(browser.driver.find_element(By.ID, f"action-{action}"))
        assert f"Yes, {action}" in browser.text()
        browser.shot(f"confirm-{action}")
        browser.click_and_wait(browser.driver.find_element(By.ID, "confirm"))
        assert owner.changeset(changeset_id)["status"] == status
        browser.shot(f"changeset-{status}")
        if action == "accept":
            assert owner.agent()["active_version"] != before
    assert owner.agent()["active_version"] == before
    # Rolled back: no decision is left to offer.
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "[id^=action-]")

    browser.open(f"/w/{owner.ws}")
    assert "Quality per agent over time" in browser.text()
    assert browser.driver.find_elements(By.CSS_SELECTOR, "svg.chart circle")
    browser.shot("home-after-scan")
    browser.open(f"/w/{owner.ws}/agents/{owner.agent_id}?left=1&right=2")
    assert "changed" in browser.text()
    browser.shot("agent-versions")
    # The accepted candidate is still a version of its own: promote it again from the console.
    promote = browser.driver.find_element(By.XPATH, "//button[normalize-space()='Promote v2']")
    browser.click_and_wait(promote)
    assert owner.agent()["active_version"] == 2


def test_a_viewer_sees_no_decisions_and_is_refused_when_posting_anyway(
    owner: Journey, console_url: str, pg_url: str, tmp_path: Path
) -> None:
    api, h = owner.api, owner.headers
    changesets = api.get(f"{owner.base}/changesets", headers=h).json()["results"]
    if not changesets:
        pytest.fail("the journey's scan proposed no change set")
    target = next((c for c in changesets if c["status"] == "proposed"), changesets[0])
    email = f"viewer-{uuid.uuid4().hex[:10]}@example.com"
    invited = api.post(
        "/api/v1/account/invites", json={"email": email, "workspace_roles": {owner.ws: "viewer"}}, headers=h
    )
    assert invited.status_code == 201, invited.text
    token = mail_secret(pg_url, email, INVITE_MAIL)

    driver = chromium(390, 844)  # a phone
    try:
        viewer = Browser(driver, console_url, tmp_path)
        viewer.open(f"/register?invite_token={token}")
        viewer.fill({"email": email, "password": PASSWORD, "tenant_name": "n/a"})
        viewer.submit("email")
        viewer.open(f"/w/{owner.ws}/changesets/{target['id']}")
        viewer.shot("viewer-changeset-phone")
        assert "needs the approve:agents scope" in viewer.text() or target["status"] not in ("proposed",)
        assert not driver.find_elements(By.CSS_SELECTOR, "[id^=action-]")
        session = viewer.cookie("spectral_session")
        nonce = viewer.cookie("spectral_csrf")
        csrf = driver.find_element(By.NAME, "csrf_token").get_attribute("value")
    finally:
        driver.quit()

    # Posting anyway, with a valid session and CSRF token: the API's own authorization refuses.
    cookies = {"spectral_session": str(session), "spectral_csrf": str(nonce)}
    with httpx.Client(base_url=console_url, cookies=cookies) as client:
        for action in ("accept", "reject", "rollback"):
            refused = client.post(
                f"/w/{owner.ws}/changesets/{target['id']}/{action}", data={"csrf_token": csrf, "reason": "no"}
            )
            assert refused.status_code == 403, refused.text
            assert "Missing scope" in refused.text
    assert owner.changeset(str(target["id"]))["status"] == target["status"]


def test_rubric_edit_is_validated_as_the_api_validates_it(owner: Journey) -> None:
    browser, api, h = owner.browser, owner.api, owner.headers
    rubrics = api.get(f"{owner.base}/evaluations/rubrics", headers=h).json()["results"]
    if not rubrics:
        rubrics = [api.post(f"{owner.base}/evaluations/rubrics", json=_small_rubric(), headers=h).json()]
    rubric = rubrics[0]
    browser.open(f"/w/{owner.ws}/rubrics")
    browser.shot("rubrics")
    browser.click_and_wait(browser.driver.find_element(By.ID, "edit-rubric-1"))
    dimensions = json.loads(str(browser.driver.find_element(By.ID, "dimensions").get_attribute("value")))
    broken = [{**dimensions[0], "scorer": {"type": "no_such_scorer", "params": {}}}, *dimensions[1:]]
    browser.set_value("dimensions", json.dumps(broken))
    browser.submit("dimensions")
    alert = browser.driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert alert
    browser.shot("rubric-refused")
    # Refused: nothing changed, and the form still holds what was typed.
    after = api.get(f"{owner.base}/evaluations/rubrics/{rubric['id']}", headers=h).json()
    assert after["dimensions"] == rubric["dimensions"]
    assert "no_such_scorer" in str(browser.driver.find_element(By.ID, "dimensions").get_attribute("value"))

    browser.fill({"name": "support answers, edited"})
    browser.set_value("dimensions", json.dumps(dimensions))
    browser.submit("name")
    renamed = api.get(f"{owner.base}/evaluations/rubrics/{rubric['id']}", headers=h).json()
    assert renamed["name"] == "support answers, edited"
    assert renamed["dimensions"] == rubric["dimensions"]


def _small_rubric() -> dict[str, object]:
    return {
        "name": "small",
        "dimensions": [
            {
                "key": "len",
                "name": "Length",
                "weight": 1,
                "scorer": {"type": "length", "params": {"max": 500}},
            }
        ],
    }


def test_clusters_are_renamed_and_dismissed_from_the_change_set_page(owner: Journey) -> None:
    browser, api, h = owner.browser, owner.api, owner.headers
    changesets = api.get(f"{owner.base}/changesets?status=proposed", headers=h).json()["results"]
    target = next((c for c in changesets if c["clusters"]), None)
    if target is None:
        pytest.fail("the journey's scan left no proposed change set with clusters")
    cluster = target["clusters"][0]
    url = f"{owner.base}/changesets/{target['id']}/clusters/{cluster['id']}"
    browser.open(f"/w/{owner.ws}/changesets/{target['id']}")

    browser.fill({f"label-{cluster['id']}": "answers not in JSON"})
    browser.submit(f"label-{cluster['id']}")
    assert api.get(url, headers=h).json()["label"] == "answers not in JSON"
    assert "answers not in JSON" in browser.text()

    browser.click_and_wait(browser.driver.find_element(By.ID, "dismiss-1"))
    assert api.get(url, headers=h).json()["dismissed"] is True
    browser.shot("cluster-dismissed")
    browser.click_and_wait(browser.driver.find_element(By.ID, "dismiss-1"))
    assert api.get(url, headers=h).json()["dismissed"] is False
