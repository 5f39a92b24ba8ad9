"""The console's main journey in headless Chromium: register -> create agent and key -> traces
through the API -> start a scan and watch it finish -> open the recommended change set ->
accept -> apply -> rollback; and a viewer who sees no decision buttons and is refused a post."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from browser.conftest import Browser, chromium, mail_secret, overflows_horizontally, unlabelled_controls
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
    # The cost as predicted from the traces beside the cost measured on the holdout, with its CI.
    read: dict[str, Any] = owner.changeset(changeset_id)
    impact, cost = read["expected_impact"], read["validation"]["cost_interval"]
    measured = browser.driver.find_element(By.ID, "cost-measured").text
    assert measured == (
        f"{impact['measured_cost_change_pct']:+.1f}% [{cost['low_pct']:+.1f}%, {cost['high_pct']:+.1f}%]"
    )
    predicted = impact["predicted_cost_change_pct"]
    shown = browser.driver.find_element(By.ID, "cost-predicted").text
    assert shown == ("—" if predicted is None else f"{predicted:+.1f}%")
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


@contextmanager
def invited_viewer(owner: Journey, console_url: str, pg_url: str, tmp_path: Path) -> Iterator[Browser]:
    """A viewer of the owner's workspace, invited by mail and signed in, in a phone-sized browser."""
    email = f"viewer-{uuid.uuid4().hex[:10]}@example.com"
    invited = owner.api.post(
        "/api/v1/account/invites",
        json={"email": email, "workspace_roles": {owner.ws: "viewer"}},
        headers=owner.headers,
    )
    assert invited.status_code == 201, invited.text
    token = mail_secret(pg_url, email, INVITE_MAIL)
    driver = chromium(390, 844)  # a phone
    try:
        viewer = Browser(driver, console_url, tmp_path)
        viewer.open(f"/register?invite_token={token}")
        viewer.fill({"email": email, "password": PASSWORD, "tenant_name": "n/a"})
        viewer.submit("email")
        yield viewer
    finally:
        driver.quit()


def test_a_viewer_sees_no_decisions_and_is_refused_when_posting_anyway(
    owner: Journey, console_url: str, pg_url: str, tmp_path: Path
) -> None:
    api, h = owner.api, owner.headers
    changesets = api.get(f"{owner.base}/changesets", headers=h).json()["results"]
    if not changesets:
        pytest.fail("the journey's scan proposed no change set")
    target = next((c for c in changesets if c["status"] == "proposed"), changesets[0])
    with invited_viewer(owner, console_url, pg_url, tmp_path) as viewer:
        driver = viewer.driver
        viewer.open(f"/w/{owner.ws}/changesets/{target['id']}")
        viewer.shot("viewer-changeset-phone")
        assert "needs the approve:agents scope" in viewer.text() or target["status"] not in ("proposed",)
        assert not driver.find_elements(By.CSS_SELECTOR, "[id^=action-]")
        session = viewer.cookie("spectral_session")
        nonce = viewer.cookie("spectral_csrf")
        csrf = driver.find_element(By.NAME, "csrf_token").get_attribute("value")

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


def _curatable(owner: Journey, pg_url: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A change set addressing two clusters of its scan, and those clusters read whole.

    The API curates a change set's own clusters; the engine's merge chain proposes such change
    sets, but the demo's scan proposes one per cluster, so the second cluster (another change
    set's, same scan) is linked here as the chain would have linked it."""
    api, h = owner.api, owner.headers
    answer = api.get(f"{owner.base}/changesets", headers=h)
    assert answer.status_code == 200, answer.text
    listed = answer.json()["results"]
    for changeset in listed:
        if len(changeset["clusters"]) >= 2:
            return changeset, [_cluster(owner, changeset["id"], c["id"]) for c in changeset["clusters"]]
    addressing = [c for c in listed if c["clusters"] and c["scan_id"] == listed[0]["scan_id"]]
    target = addressing[0]
    mine = {c["id"] for c in target["clusters"]}
    other = next(cl["id"] for c in addressing[1:] for cl in c["clusters"] if cl["id"] not in mine)
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        conn.execute(
            "INSERT INTO changeset_clusters (changeset_id, cluster_id) VALUES (%s, %s)", (target["id"], other)
        )
    clusters = api.get(f"{owner.base}/changesets/{target['id']}/clusters", headers=h).json()["results"]
    return target, [_cluster(owner, target["id"], c["id"]) for c in clusters]


def _cluster(owner: Journey, changeset_id: str, cluster_id: str) -> dict[str, Any]:
    found: dict[str, Any] = owner.api.get(
        f"{owner.base}/changesets/{changeset_id}/clusters/{cluster_id}", headers=owner.headers
    ).json()
    return found


def _pick(browser: Browser, cluster_id: str, trace_ids: list[str]) -> None:
    for trace_id in trace_ids:
        box = browser.driver.find_element(
            By.CSS_SELECTOR, f"#cluster-{cluster_id} input[type=checkbox][value='{trace_id}']"
        )
        box.click()


def test_clusters_are_merged_and_traces_moved_after_a_confirmation(owner: Journey, pg_url: str) -> None:
    browser = owner.browser
    changeset, live = _curatable(owner, pg_url)
    source, target = live[:2]
    page = f"/w/{owner.ws}/changesets/{changeset['id']}"
    browser.open(page)
    assert not unlabelled_controls(browser.driver)
    browser.shot("clusters-curation")

    # Move two traces: the confirmation states the sizes before and after; then they are moved.
    chosen = source["trace_ids"][:2]
    _pick(browser, source["id"], chosen)
    Select(browser.driver.find_element(By.ID, f"move-to-{source['id']}")).select_by_value(target["id"])
    browser.submit(f"move-to-{source['id']}")
    text = browser.text()
    assert f"Move {len(chosen)} traces to “{target['label']}”?" in text
    assert f"goes from {source['size']} to {source['size'] - len(chosen)} traces" in text
    assert _cluster(owner, changeset["id"], source["id"])["trace_ids"] == source["trace_ids"]  # not yet
    browser.shot("confirm-move")
    browser.click_and_wait(browser.driver.find_element(By.ID, "confirm"))
    after_source = _cluster(owner, changeset["id"], source["id"])
    after_target = _cluster(owner, changeset["id"], target["id"])
    assert set(chosen) <= set(after_target["trace_ids"])
    assert not set(chosen) & set(after_source["trace_ids"])

    # A move the API refuses part-way (another curator moved a trace meanwhile) is undone whole.
    browser.open(page)
    pair = after_source["trace_ids"][:2]
    _pick(browser, source["id"], pair)
    Select(browser.driver.find_element(By.ID, f"move-to-{source['id']}")).select_by_value(target["id"])
    browser.submit(f"move-to-{source['id']}")
    meanwhile = owner.api.post(
        f"{owner.base}/changesets/{changeset['id']}/clusters/{source['id']}/traces/{pair[1]}/move",
        json={"to_cluster_id": target["id"]},
        headers=owner.headers,
    )
    assert meanwhile.status_code == 200, meanwhile.text
    browser.click_and_wait(browser.driver.find_element(By.ID, "confirm"))
    alert = browser.driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "nothing was moved" in alert
    assert pair[1] in alert
    assert pair[0] in _cluster(owner, changeset["id"], source["id"])["trace_ids"]
    browser.shot("move-refused")

    browser.open(f"{page}/clusters/{source['id']}/move?into={target['id']}")
    assert "Choose at least one trace to move" in browser.text()

    # Merge into another cluster of the same change set.
    browser.open(page)
    Select(browser.driver.find_element(By.ID, f"merge-into-{source['id']}")).select_by_value(target["id"])
    browser.submit(f"merge-into-{source['id']}")
    assert f"Merge “{source['label']}” into “{target['label']}”?" in browser.text()
    assert _cluster(owner, changeset["id"], source["id"])["merged_into_id"] is None  # not yet
    browser.shot("confirm-merge")
    browser.click_and_wait(browser.driver.find_element(By.ID, "confirm"))
    survivor = _cluster(owner, changeset["id"], target["id"])
    assert set(after_source["trace_ids"]) <= set(survivor["trace_ids"])
    # The absorbed cluster lives on inside the survivor: the API no longer lists it.
    listed = owner.api.get(f"{owner.base}/changesets/{changeset['id']}/clusters", headers=owner.headers)
    assert [c["id"] for c in listed.json()["results"]] == [target["id"]]
    assert not browser.driver.find_elements(By.ID, f"cluster-{source['id']}")
    assert f"{survivor['size']} traces" in browser.driver.find_element(By.ID, f"cluster-{target['id']}").text
    browser.shot("clusters-merged")

    # Hand-made requests get a clear message on the page: a merge into itself, a move into a
    # cluster merged away, a move of nothing.
    browser.open(f"{page}/clusters/{target['id']}/merge?into={target['id']}")
    assert (
        "Choose another cluster than this one"
        in browser.driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    )
    browser.open(f"{page}/clusters/{target['id']}/move?into={source['id']}&trace={survivor['trace_ids'][0]}")
    assert "is not one of this change set's clusters" in browser.text()
    browser.open(f"{page}/clusters/{target['id']}/move?into={target['id']}")
    assert "Choose another cluster than this one" in browser.text()


def test_managed_templates_versions_diff_new_version_and_experiments(owner: Journey) -> None:
    browser, api, h = owner.browser, owner.api, owner.headers
    agent_api = f"{owner.base}/agents/{owner.agent_id}"
    browser.open(f"/w/{owner.ws}/agents/{owner.agent_id}")
    browser.click_and_wait(browser.driver.find_element(By.ID, "templates-link"))
    for template in api.get(f"{agent_api}/templates", headers=h).json()["results"]:
        assert template["name"] in browser.text()
    assert not unlabelled_controls(browser.driver)
    browser.shot("templates")

    # A new template: the API's validation is shown on the form, and nothing is stored.
    browser.fill({"template-name": "greeting"})
    browser.submit("template-name")
    assert "text: String should have at least 1 character" in browser.text()
    assert api.get(f"{agent_api}/templates/greeting", headers=h).status_code == 404
    assert browser.driver.find_element(By.ID, "template-name").get_attribute("value") == "greeting"
    browser.set_value("template-text", "Hello {{name}}.\nHow can I help?")
    browser.submit("template-name")
    assert browser.driver.current_url.endswith("/templates/greeting")
    browser.shot("template")

    # A new version, then the two side by side.
    browser.set_value("text", "Hello {{name}}!\nHow can I help?\nOrder: {{order_id}}")
    browser.submit("text")
    versions = api.get(f"{agent_api}/templates/greeting/versions", headers=h).json()["results"]
    assert [v["version"] for v in versions] == [2, 1]
    assert "2 lines differ between v1 and v2" in browser.text()
    assert browser.driver.find_elements(By.CSS_SELECTOR, "tr.d-replace td.del")
    assert browser.driver.find_elements(By.CSS_SELECTOR, "tr.d-insert td.ins")
    browser.shot("template-diff")

    # Refused as the API refuses it; the typed text stays. Unchanged text stores nothing.
    browser.set_value("text", "")
    browser.submit("text")
    assert (
        "text: String should have at least 1 character"
        in browser.driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    )
    browser.shot("template-refused")
    browser.set_value("text", versions[0]["text"])
    browser.submit("text")
    assert "The text is unchanged" in browser.text()
    assert api.get(f"{agent_api}/templates/greeting", headers=h).json()["version"] == 2

    # An experiment whose candidate sets the template: its figures on the template's page.
    agent = owner.agent()
    config = api.get(f"{agent_api}/versions/{agent['active_version']}", headers=h).json()["config"]
    candidate = {k: config[k] for k in ("model", "params", "templates", "tools") if k in config}
    candidate["templates"] = {**candidate.get("templates", {}), "greeting": "Hi {{name}}, a candidate."}
    samples = api.post(
        f"{owner.base}/samples/from-traces",
        json={"name": "template trial", "agent_id": owner.agent_id, "limit": 12},
        headers=h,
    )
    assert samples.status_code == 201, samples.text
    objective = api.get(f"{owner.base}/evaluations/objectives", headers=h).json()["results"][0]
    started = api.post(
        f"{owner.base}/changesets/experiments",
        json={
            "agent_id": owner.agent_id,
            "candidate_config": candidate,
            "sample_set_id": samples.json()["sample_set"]["id"],
            "rubric_id": objective["rubric_id"],
            "objective_id": objective["id"],
        },
        headers=h,
    )
    assert started.status_code == 202, started.text
    experiment = _finished_experiment(owner, started.json()["id"])
    assert experiment["status"] == "succeeded", experiment["error"]

    browser.open(f"/w/{owner.ws}/agents/{owner.agent_id}/templates/greeting")
    row = browser.driver.find_element(
        By.XPATH, f"//a[@href='/w/{owner.ws}/experiments/{experiment['id']}']/../.."
    )
    assert "not a stored version" in row.text
    assert "succeeded" in row.text
    assert "[" in row.text  # the 95% CI
    browser.shot("template-experiments")
    browser.click_and_wait(row.find_element(By.TAG_NAME, "a"))
    text = browser.text()
    for heading in ("Objective difference", "95% CI", "Baseline", "Candidate", "Input by input"):
        assert heading in text
    assert "{" not in browser.driver.find_element(By.TAG_NAME, "main").text  # no raw JSON
    rows = browser.driver.find_elements(By.CSS_SELECTOR, "table[aria-labelledby=rows-h] tbody tr")
    assert len(rows) == len(experiment["results"])
    browser.shot("experiment")

    # At phone width the template page fits the screen.
    browser.driver.set_window_size(390, 844)
    try:
        browser.open(f"/w/{owner.ws}/agents/{owner.agent_id}/templates/greeting?left=1&right=2")
        assert not overflows_horizontally(browser.driver)
        browser.shot("template-phone")
    finally:
        browser.driver.set_window_size(1280, 1000)


def _finished_experiment(owner: Journey, experiment_id: str) -> dict[str, Any]:
    url = f"{owner.base}/changesets/experiments/{experiment_id}"
    deadline = time.monotonic() + SCAN_TIMEOUT_S
    while time.monotonic() < deadline:
        experiment: dict[str, Any] = owner.api.get(url, headers=owner.headers).json()
        if experiment["status"] not in ("queued", "running"):
            return experiment
        time.sleep(0.5)
    pytest.fail(f"experiment {experiment_id} did not finish")


def test_a_viewer_sees_no_curation_and_is_refused_when_posting_anyway(
    owner: Journey, console_url: str, pg_url: str, tmp_path: Path
) -> None:
    api, h = owner.api, owner.headers
    changeset, clusters = _curatable(owner, pg_url)
    first, second = clusters[:2]
    templates = api.get(f"{owner.base}/agents/{owner.agent_id}/templates", headers=h).json()["results"]
    name = templates[0]["name"]
    with invited_viewer(owner, console_url, pg_url, tmp_path) as viewer:
        driver = viewer.driver
        viewer.open(f"/w/{owner.ws}/changesets/{changeset['id']}")
        assert "Failure clusters addressed" in viewer.text()
        for control in ("[id^=merge-]", "[id^=move-]", "[id^=dismiss-]", "input[type=checkbox]"):
            assert not driver.find_elements(By.CSS_SELECTOR, control)
        assert not overflows_horizontally(driver)
        viewer.shot("viewer-clusters-phone")
        viewer.open(f"/w/{owner.ws}/agents/{owner.agent_id}/templates/{name}")
        assert "Versions" in viewer.text()
        assert not driver.find_elements(By.ID, "text")
        viewer.shot("viewer-template-phone")
        session = viewer.cookie("spectral_session")
        nonce = viewer.cookie("spectral_csrf")
        csrf = driver.find_element(By.NAME, "csrf_token").get_attribute("value")

    # Posting anyway, with a valid session and CSRF token: the API's own authorization refuses.
    cookies = {"spectral_session": str(session), "spectral_csrf": str(nonce)}
    base = f"/w/{owner.ws}/changesets/{changeset['id']}/clusters"
    posts = {
        f"{base}/merge": {"into": second["id"], "cluster": first["id"]},
        f"{base}/{first['id']}/move": {"into": second["id"], "traces": " ".join(first["trace_ids"][:1])},
        f"/w/{owner.ws}/agents/{owner.agent_id}/templates/{name}": {"text": "a viewer's text"},
    }
    with httpx.Client(base_url=console_url, cookies=cookies) as client:
        for url, form in posts.items():
            refused = client.post(url, data={"csrf_token": str(csrf), **form})
            assert refused.status_code == 403, refused.text
            assert "Missing scope" in refused.text
    assert _cluster(owner, changeset["id"], first["id"]) == first
    assert _cluster(owner, changeset["id"], second["id"]) == second
    latest = api.get(f"{owner.base}/agents/{owner.agent_id}/templates/{name}", headers=h).json()
    assert latest["version"] == templates[0]["version"]


def _strict_scan(owner: Journey) -> str:
    """Another scan of the journey's agent at guardrails no fix can meet (cost and latency may not
    rise at all), so its validated gains are `reject`s, whatever the default guardrails let
    through; its id."""
    api, h = owner.api, owner.headers
    journey_scan = api.get(f"{owner.base}/scans", headers=h).json()["results"][0]
    strict = {"level": "suggest", "guardrails": {"max_cost_increase_pct": 0, "max_latency_increase_pct": 0}}
    assert api.put(f"{owner.base}/autonomy", json=strict, headers=h).status_code == 200
    body = {key: journey_scan[key] for key in ("agent_id", "rubric_id", "objective_id")}
    started = api.post(f"{owner.base}/scans", json={**body, "seed": 3}, headers=h)
    assert started.status_code in (201, 202), started.text
    scan_id: str = started.json()["id"]
    deadline = time.monotonic() + 600  # a hang guard, not a speed bar
    while (scan := api.get(f"{owner.base}/scans/{scan_id}", headers=h).json())["status"] in (
        "queued",
        "running",
    ):
        assert time.monotonic() < deadline, scan
        time.sleep(0.5)
    assert scan["status"] == "succeeded", scan
    return scan_id


def test_a_rejected_change_set_is_accepted_only_with_the_override_confirmed(
    owner: Journey, console_url: str
) -> None:
    """The confirmation page of a `reject` states the verdict's reason and asks for the override
    (the API call the console makes, audited as tests/integration/scans/test_verdicts.py shows);
    without it the API refuses and nothing moves."""
    browser, api, h = owner.browser, owner.api, owner.headers
    scan_id = _strict_scan(owner)
    listed = api.get(f"{owner.base}/changesets?scan_id={scan_id}&verdict=reject", headers=h).json()["results"]
    assert listed, "a scan at 0% guardrails rejected no change set"
    target = listed[0]
    before = owner.agent()["active_version"]
    browser.open(f"/w/{owner.ws}/changesets/{target['id']}/accept")
    assert f"Validation rejected this change: {target['validation']['verdict_reason']}" in browser.text()
    override = browser.driver.find_element(By.ID, "override")
    assert override.get_attribute("required") is not None
    browser.shot("confirm-accept-override")

    # Posting the confirmation without the box ticked: the API's 400, and nothing moved.
    csrf = browser.driver.find_element(By.NAME, "csrf_token").get_attribute("value")
    cookies = {name: str(browser.cookie(name)) for name in ("spectral_session", "spectral_csrf")}
    with httpx.Client(base_url=console_url, cookies=cookies) as client:
        refused = client.post(
            f"/w/{owner.ws}/changesets/{target['id']}/accept", data={"csrf_token": str(csrf)}
        )
    assert refused.status_code == 400, refused.text
    assert "override" in refused.text
    assert owner.changeset(target["id"])["status"] == "proposed"
    assert owner.agent()["active_version"] == before

    override.click()
    browser.click_and_wait(browser.driver.find_element(By.ID, "confirm"))
    assert owner.changeset(target["id"])["status"] == "accepted"
    assert owner.agent()["active_version"] != before
    rolled_back = api.post(f"{owner.base}/changesets/{target['id']}/rollback", headers=h)
    assert rolled_back.status_code == 200, rolled_back.text
    assert owner.agent()["active_version"] == before
