"""How fast the coder app feels in a browser: first page load, click-to-suggestions and code-switch time
on a 2,000-word note, measured with Playwright driving Debian's Chromium against `streamlit run`.

Run from the project root: `python -m bench.bench_app [--model-dir models/demo]`. Without a model at
--model-dir the tiny model is trained first (bench/out/app/). Prints medians and writes
bench/results/app.json.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from app.launcher import CHROMIUM_ARGS, CHROMIUM_PATH, running_app
from app.services.accounts import create_user
from app.services.auth import CurrentUser, Role
from app.services.db import make_engine, migrate, open_session
from bench import RESULTS_DIR
from plant_core.coder import Coder
from plant_core.corpus.records import iter_jsonl

ROOT = Path(__file__).resolve().parents[1]
RESULTS = RESULTS_DIR / "app.json"
BENCH_USER, BENCH_PASSWORD = "bench-coder", "bench coder passphrase"
OUT = ROOT / "bench" / "out" / "app"
NOTE_WORDS = 2000
PAGE_LOADS = 5
SUGGEST_REPEATS = 5
CODE_SWITCHES = 12
WAIT_MS = 120_000
# Clicks the index-th code of the review list (wrapping) in the page itself and resolves with the milliseconds
# until its evidence heading is on screen: the browser's own time, without Playwright's round trips.
SWITCH_CODE_JS = """(index) => new Promise((resolve, reject) => {
  const options = [...document.querySelectorAll("[class*='st-key-focus-'] button")].filter(b => b.offsetParent);
  const option = options[index % options.length];
  const code = option.querySelector("strong").textContent;
  const started = performance.now();
  const shown = () => [...document.querySelectorAll("h4")].some(h => h.textContent.startsWith(code + " "));
  const poll = () => {
    if (shown()) return resolve((performance.now() - started) / 1000);
    if (performance.now() - started > 60000) return reject(new Error("no evidence heading for " + code));
    requestAnimationFrame(poll);
  };
  option.click();
  requestAnimationFrame(poll);
})"""
TARGETS_S = {"page_load": 2.0, "suggestions": 1.0, "code_switch": 0.3}


def tiny_model() -> tuple[Path, Path]:
    """(model dir, corpus dir) of the tiny model, trained through the CLI unless it is already there."""
    data, model = OUT / "tiny-data", OUT / "tiny-model"
    if not (model / "weights.pt").is_file():
        for args in (
            ["synth", "--config", "tiny", "--out", str(data)],
            ["train", "--system", "plant", "--data", str(data), "--out", str(model), "--config", "tiny"],
        ):
            subprocess.run([sys.executable, "-m", "plant_core", *args], cwd=ROOT, check=True)
    return model, data


def long_note(corpus_dir: Path, words: int, variant: int) -> str:
    """About `words` words of clinical text: test notes run together, marked so each variant is new."""
    texts = [note.text for note in iter_jsonl(corpus_dir / "test.jsonl")]
    pieces, count, index = [f"Benchmark note {variant}."], 0, variant
    while count < words:
        text = texts[index % len(texts)]
        pieces.append(text)
        count += len(text.split())
        index += 1
    return "\n\n".join(pieces)


def model_seconds(coder: Coder, text: str) -> float:
    """What the model alone costs per note: suggestions plus the attention the page tints with, in one
    thread as the app's server runs it (app/main.py)."""
    torch.set_num_threads(1)
    times = []
    for _ in range(3):
        started = time.perf_counter()
        suggested = coder.suggest(text)
        coder.attention(text, [s.code for s in suggested])
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def measure(url: str, corpus_dir: Path) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM_PATH, args=list(CHROMIUM_ARGS))
        loads = []
        for _ in range(PAGE_LOADS + 1):  # the first load also loads the model into the server
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.set_default_timeout(WAIT_MS)
            started = time.perf_counter()
            page.goto(url)
            page.get_by_role("button", name="Sign in").wait_for()  # a new browser session's first screen
            loads.append(time.perf_counter() - started)
            context.close()

        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(WAIT_MS)
        page.goto(url)
        page.get_by_role("textbox", name="Username").fill(BENCH_USER)
        page.get_by_role("textbox", name="Password").fill(BENCH_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Suggest codes").wait_for()
        suggest_times = []
        for variant in range(SUGGEST_REPEATS + 1):  # the first also warms the model's first pass
            page.get_by_role("textbox", name="Note").fill(long_note(corpus_dir, NOTE_WORDS, variant))
            started = time.perf_counter()
            page.get_by_role("button", name="Suggest codes").click()
            page.locator("#evidence-note", has_text=f"Benchmark note {variant}.").wait_for()
            suggest_times.append(time.perf_counter() - started)
        words = len(page.locator("#evidence-note").inner_text().split())

        switch_times = [page.evaluate(SWITCH_CODE_JS, index) for index in range(1, CODE_SWITCHES + 1)]
        browser.close()
    return {
        "page_load_first_s": loads[0],
        "page_load_s": statistics.median(loads[1:]),
        "page_load_runs_s": loads,
        "suggestions_first_s": suggest_times[0],
        "suggestions_s": statistics.median(suggest_times[1:]),
        "suggestions_runs_s": suggest_times,
        "code_switch_s": statistics.median(switch_times),
        "code_switch_runs_s": switch_times,
        "note_words": words,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=ROOT / "models" / "demo")
    args = parser.parse_args()
    if not Path(CHROMIUM_PATH).exists():
        raise SystemExit(f"needs Debian's Chromium at {CHROMIUM_PATH}: apt-get install chromium")
    model_dir, corpus_dir = args.model_dir, ROOT / "data" / "demo"
    if not (model_dir / "weights.pt").is_file() or not (corpus_dir / "test.jsonl").is_file():
        model_dir, corpus_dir = tiny_model()
    coder = Coder.load(model_dir)

    with tempfile.TemporaryDirectory() as scratch:
        db_url = f"sqlite:///{Path(scratch) / 'bench.db'}"
        engine = make_engine(db_url)
        migrate(engine)
        with open_session(engine) as session:
            create_user(session, CurrentUser("bench", Role.ADMIN), BENCH_USER, BENCH_PASSWORD, Role.CODER)
        engine.dispose()
        env = {
            "PLANT_CODER_DB_URL": db_url,
            "PLANT_CODER_MODEL_DIR": str(model_dir),
            "PLANT_CODER_DEMO_NOTES": str(Path(scratch) / "none.jsonl"),
            "PLANT_CODER_EXPORT_DIR": str(Path(scratch) / "exports"),
        }
        with running_app(env) as url:
            figures = measure(url, corpus_dir)

    figures["model_only_s"] = model_seconds(coder, long_note(corpus_dir, NOTE_WORDS, 99))
    result = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "model": coder.info()["version"],
        "model_dir": str(model_dir),
        **figures,
        "targets_s": TARGETS_S,
        "met": {
            "page_load": figures["page_load_s"] < TARGETS_S["page_load"],
            "suggestions": figures["suggestions_s"] < TARGETS_S["suggestions"],
            "code_switch": figures["code_switch_s"] < TARGETS_S["code_switch"],
        },
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"model {result['model']} on a {figures['note_words']}-word note ({result['machine']})")
    print(
        f"page load      median {figures['page_load_s']:.2f} s (first, with model load: {figures['page_load_first_s']:.2f} s)"
    )
    print(
        f"suggestions    median {figures['suggestions_s']:.2f} s (model alone {figures['model_only_s']:.2f} s)"
    )
    print(f"code switch    median {figures['code_switch_s'] * 1000:.0f} ms")
    print(f"targets met: {result['met']}  -> {RESULTS}")


if __name__ == "__main__":
    main()
