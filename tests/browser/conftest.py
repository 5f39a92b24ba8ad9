"""Browser tests: Debian's headless Chromium driven by Selenium against a real uvicorn server
running the whole API (console included) on loopback, on this run's PostgreSQL database, with
the in-process queue and the demo agent's replay endpoint."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import uvicorn
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from processes import free_port
from servers import serve_in_thread
from spectral.platform.shared.settings import Environment, Settings
from spectral_api.app import create_app
from spectral_cli.demo.agent import create_app as create_demo_agent
from testenv import TEST_JWT_SECRET

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    CHROMIUM is None or CHROMEDRIVER is None, reason="needs Debian's chromium and chromium-driver"
)


@pytest.fixture(scope="module")
def console_url(pg_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The API process as `make run` serves it (lifespan on: it opens its own database and queue)."""
    settings = Settings(
        env=Environment.TEST,
        data_dir=tmp_path_factory.mktemp("console-data"),
        database_url=pg_url,
        jwt_secret=TEST_JWT_SECRET,
        replay_allow_private=True,
        # The journey's pages call the API many times a minute for one owner: no default limit applies.
        rate_limit_api_per_minute=1_000_000,
    )
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"console:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("console server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def replay_url() -> Iterator[str]:
    with serve_in_thread(create_demo_agent(7)) as url:
        yield f"{url}/replay"


def mail_secret(pg_url: str, to: str, kind: str) -> str:
    """The one-time token of the newest mail of `kind` to `to` (unsent: no SMTP in tests)."""
    dsn = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT secret FROM mail_outbox WHERE to_address = %s AND kind = %s ORDER BY created_at DESC LIMIT 1",
            (to, kind),
        ).fetchone()
    assert row is not None, f"no {kind} mail to {to}"
    assert row[0], f"the {kind} mail to {to} holds no token"
    return str(row[0])


@dataclass
class Browser:
    """A headless Chromium session that saves a screenshot of every page it is asked to."""

    driver: WebDriver
    base: str
    shots: Path
    taken: list[Path] = field(default_factory=list)

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def shot(self, name: str) -> Path:
        path = self.shots / f"{len(self.taken) + 1:02d}-{name}.png"
        self.driver.save_screenshot(str(path))
        self.taken.append(path)
        return path

    def fill(self, fields: dict[str, str]) -> None:
        for element_id, value in fields.items():
            element = self.driver.find_element(By.ID, element_id)
            element.clear()
            element.send_keys(value)

    def set_value(self, element_id: str, value: str) -> None:
        """For long texts (JSON configs): typing them key by key is slow and tells nothing."""
        element = self.driver.find_element(By.ID, element_id)
        self.driver.execute_script("arguments[0].value = arguments[1];", element, value)

    def submit(self, element_id: str) -> None:
        """Submit the form holding `element_id` with its own submit button, as a user would."""
        form = self.driver.find_element(By.ID, element_id).find_element(By.XPATH, "ancestor::form")
        self.click_and_wait(form.find_element(By.CSS_SELECTOR, "button[type=submit]"))

    def click_and_wait(self, element: WebElement) -> None:
        """Click, and wait until the next page has replaced this one."""
        # A mark on this document's window: the next document starts without it.
        self.driver.execute_script("window.spectralOldPage = true;")
        element.click()
        WebDriverWait(self.driver, 30).until(
            lambda driver: driver.execute_script(
                "return window.spectralOldPage === undefined && document.readyState === 'complete';"
            )
        )

    def text(self) -> str:
        return str(self.driver.find_element(By.TAG_NAME, "body").text)

    def wait_for(self, css: str, timeout: float = 30) -> None:
        WebDriverWait(self.driver, timeout).until(
            expected_conditions.presence_of_element_located((By.CSS_SELECTOR, css))
        )

    def cookie(self, name: str) -> str | None:
        found = self.driver.get_cookie(name)
        return None if found is None else str(found["value"])


def chromium(width: int, height: int) -> WebDriver:
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(arg)
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@contextmanager
def _open_browser(console_url: str, shots: Path, width: int, height: int) -> Iterator[Browser]:
    """A Chromium window of the given size on the console, screenshots into `shots`, closed after."""
    driver = chromium(width, height)
    shots.mkdir()
    try:
        yield Browser(driver, console_url, shots)
    finally:
        driver.quit()


@pytest.fixture
def browser(console_url: str, tmp_path: Path) -> Iterator[Browser]:
    with _open_browser(console_url, tmp_path / "screenshots", 1280, 1000) as opened:
        yield opened


@pytest.fixture
def phone(console_url: str, tmp_path: Path) -> Iterator[Browser]:
    with _open_browser(console_url, tmp_path / "phone-screenshots", 390, 844) as opened:
        yield opened


def unlabelled_controls(driver: WebDriver) -> list[str]:
    """The visible form controls of the page that no label names (by id, or their HTML)."""
    found: list[str] = driver.execute_script(
        """
        return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
          .filter(el => el.labels.length === 0 && !el.getAttribute('aria-label')
                        && !el.getAttribute('aria-labelledby'))
          .map(el => el.id || el.outerHTML.slice(0, 80));
        """
    )
    return found


def overflows_horizontally(driver: WebDriver) -> bool:
    """Whether the page is wider than the window (a phone would have to scroll sideways)."""
    return bool(driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth + 1;"))
