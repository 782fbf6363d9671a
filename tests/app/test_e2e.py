"""End to end: `streamlit run app/main.py` on a free local port, driven by Debian's Chromium through
Playwright: sign in, paste, suggest, open evidence, accept, reject, add by search, submit, reload (which
asks to sign in again and comes back to the note), export.

Screenshots of each step are left in the test's tmp folder.
"""

import json
import time
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from app.launcher import CHROMIUM_ARGS, CHROMIUM_PATH, running_app
from app.services import decisions, exporters
from app.services.db import make_engine, migrate, open_session
from app.services.store import Action, NoteStatus
from plant_core.corpus.records import iter_jsonl
from tests.app.people import ADMIN, PASSWORD, make_accounts

CHROMIUM = Path(CHROMIUM_PATH)
WAIT_MS = 60_000
MISSED = "H52.4"  # not among the tiny model's codes: the coder adds it by search

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install chromium)",
    ),
]


@pytest.fixture
def app_url(tmp_path, model_dir):
    db_url = f"sqlite:///{tmp_path / 'var' / 'plant_coder.db'}"
    engine = make_engine(db_url)
    migrate(engine)
    with open_session(engine) as session:
        make_accounts(session, "alice")
    engine.dispose()
    env = {
        "PLANT_CODER_DB_URL": db_url,
        "PLANT_CODER_MODEL_DIR": str(model_dir),
        "PLANT_CODER_DEMO_NOTES": str(tmp_path / "no-demo-notes.jsonl"),
        "PLANT_CODER_EXPORT_DIR": str(tmp_path / "exports"),
    }
    with running_app(env) as url:
        yield url, db_url


@pytest.fixture
def page(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS))
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        page.set_default_timeout(WAIT_MS)
        yield page
        browser.close()


def keyed_button(page, key: str):
    """The button Streamlit drew for a widget key (its container gets the class st-key-<key>)."""
    return page.locator(f".st-key-{key.replace('.', '-')} button:visible")


def code_option(page, code: str):
    """The review list's button for a code."""
    return keyed_button(page, f"focus-{code}")


def sign_in(page, username: str = "alice", password: str = PASSWORD) -> None:
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def settle(page) -> None:
    """Waits for Streamlit to finish the rerun a click started (a click during a rerun can be merged
    into it, as a quick coder's would)."""
    page.wait_for_timeout(500)
    page.locator("[data-testid='stStatusWidget']").wait_for(state="hidden")


def newest_decisions(db_url: str) -> dict:
    engine = make_engine(db_url)
    try:
        with open_session(engine) as session:
            return {code: d.action for code, d in decisions.latest_decisions(session, ADMIN, 1, 1).items()}
    finally:
        engine.dispose()


def wait_for_decision(db_url: str, code: str, action: Action, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while newest_decisions(db_url).get(code) != action:
        assert time.monotonic() < deadline, f"{code} was not {action}: {newest_decisions(db_url)}"
        time.sleep(0.2)


def test_coder_reviews_submits_reloads_and_exports_a_note(app_url, page, tmp_path, test_notes):
    url, db_url = app_url
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page.goto(url)
    sign_in(page, password="not the password")
    page.get_by_text("Wrong username or password").wait_for()
    sign_in(page)
    page.get_by_role("button", name="Suggest codes").wait_for()

    note = page.get_by_role("textbox", name="Note")
    note.fill(test_notes[0].text + "\n<script>window.pwned = 1</script>")
    note.press("Control+Enter")  # the "Suggest codes" shortcut
    page.get_by_text("Top evidence").wait_for()
    settle(page)
    page.screenshot(path=shots / "1-suggestions.png", full_page=True)
    engine = make_engine(db_url)
    with open_session(engine) as session:
        run = decisions.review_state(session, ADMIN, 1).run
        suggested = [s.code for s in run.suggestions]
    engine.dispose()
    assert page.evaluate("window.pwned") is None
    assert "<script>window.pwned = 1</script>" in page.locator("#evidence-note").inner_text()

    second, third = suggested[1], suggested[2]
    code_option(page, second).click()
    page.get_by_role("heading", name=second).wait_for()
    settle(page)
    page.screenshot(path=shots / "2-evidence.png", full_page=True)
    assert page.locator("#evidence-note mark").count() > 0

    page.keyboard.press("a")  # accept, right after choosing the code in the list
    wait_for_decision(db_url, second, Action.ACCEPTED)
    code_option(page, third).click()
    page.get_by_role("heading", name=third).wait_for()
    settle(page)
    keyed_button(page, "review_reject").click()
    wait_for_decision(db_url, third, Action.REJECTED)
    page.get_by_role("heading", name=third).wait_for(state="hidden")  # focus moved to the next undecided

    # Typed letters go into the box, not to the shortcuts (A accept, X reject, N next note, J/K move).
    settle(page)
    before, focused = newest_decisions(db_url), page.locator("h4").first.inner_text()
    page.get_by_role("textbox", name="Evidence words (optional)").press_sequentially("janxk")
    page.get_by_role("textbox", name="Evidence words (optional)").fill(test_notes[0].text.split()[0])
    page.get_by_role("textbox", name="Evidence words (optional)").press("Enter")
    settle(page)
    assert newest_decisions(db_url) == before and page.locator("h4").first.inner_text() == focused
    page.locator(".st-key-review_add_query input").press_sequentially("presbyo")  # live: no Enter
    keyed_button(page, f"add-{MISSED}").wait_for()
    settle(page)
    page.screenshot(path=shots / "3-search.png", full_page=True)
    keyed_button(page, f"add-{MISSED}").click()
    wait_for_decision(db_url, MISSED, Action.ADDED)
    settle(page)
    page.screenshot(path=shots / "4-added.png", full_page=True)

    keyed_button(page, "review_accept_preselected").click()
    settle(page)
    keyed_button(page, "review_reject_others").click()
    settle(page)
    keyed_button(page, "review_submit").click()
    page.get_by_text("Submitted. Press").wait_for()
    page.screenshot(path=shots / "5-submitted.png", full_page=True)

    page.reload()  # a new browser session: signed out, the note's id still in the URL
    sign_in(page)
    page.get_by_text("Revision 1 is submitted").wait_for()
    settle(page)
    page.screenshot(path=shots / "6-reloaded.png", full_page=True)
    assert "check_circle" in code_option(page, second).inner_text()
    assert "cancel" in code_option(page, third).inner_text()
    assert "add_circle" in code_option(page, MISSED).inner_text()
    final = newest_decisions(db_url)
    assert (
        final[second] == Action.ACCEPTED and final[third] == Action.REJECTED and final[MISSED] == Action.ADDED
    )

    page.get_by_role("link", name="Export").click()
    page.get_by_text("JSON lines (corpus format + audit)").click()
    page.get_by_text("One note per line").wait_for()  # the download now holds this format
    settle(page)
    with page.expect_download() as download:
        keyed_button(page, "export_download").click()
    jsonl = tmp_path / "labels.jsonl"
    download.value.save_as(jsonl)
    [exported] = list(iter_jsonl(jsonl))
    assert set(exported.codes) == {code for code, action in final.items() if action != Action.REJECTED}

    page.get_by_text("FHIR R4B Bundle of Conditions").click()
    page.get_by_text("A collection Bundle").wait_for()
    settle(page)
    with page.expect_download() as download:
        keyed_button(page, "export_download").click()
    fhir_path = tmp_path / "conditions.fhir.json"
    download.value.save_as(fhir_path)
    bundle = json.loads(fhir_path.read_text())
    Bundle.model_validate(bundle)
    assert exporters.fhir_problems(bundle) == [] and len(bundle["entry"]) == len(exported.codes)
    page.screenshot(path=shots / "7-export.png", full_page=True)

    engine = make_engine(db_url)
    with open_session(engine) as session:
        assert decisions.review_state(session, ADMIN, 1).note.status == NoteStatus.SUBMITTED
    engine.dispose()
