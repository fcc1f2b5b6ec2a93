"""The newsroom page in a real browser, served by real nginx with the project's config, against the real stack.

Debian's headless Chromium (driven by Playwright, never `playwright install`) talks to nginx, which proxies
/api/ to the real gateway of the stack fixture (Redis, Celery workers, inference). Only "network down" is
simulated (a route that aborts the request); every other error is the real service's answer. Each state is
saved as a screenshot under test-artifacts/frontend/.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from frontend_helpers import CHROMIUM, CHROMIUM_ARGS, Nginx, dead_gateway_url, nginx_binary, running_nginx, screenshot

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (scripts/frontend-deps.sh)")
expect = playwright_api.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/frontend-deps.sh)"),
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed (scripts/frontend-deps.sh)"),
]

SHARED_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "agnews"
SPORTS_TITLE = "Yankees beat Red Sox in extra innings to win the pennant"
SPORTS_TEXT = (
    "Derek Jeter singled home the winning run in the 11th inning as the New York Yankees beat the Boston Red Sox "
    "6-5 on Sunday night, clinching the American League pennant and a place in the World Series; the coach "
    "praised his pitchers and the team's season."
)
# Things the page must never show a reader: JavaScript leftovers and raw probabilities.
RAW = re.compile(r"\bundefined\b|\bNaN\b|\[object Object\]|\bnull\b|\b0\.\d{4,}\b")
WAIT_MS = 60_000


# ---------- fixtures ----------


@pytest.fixture(scope="module")
def gateway(stack: Any) -> Any:
    """The real stack of the serving tests (tests/stack.py): gateway_url, admin_key, kill(), start_inference()."""
    return stack


@pytest.fixture(scope="module")
def site(gateway: Any) -> Iterator[Nginx]:
    """nginx with the project's config, proxying /api/ to the real gateway."""
    with running_nginx(gateway.gateway_url) as server:
        yield server


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A stack of this module's own for the admin test, whose training run adds a version to the registry:
    the session stack's registry stays as the other stack tests expect it."""
    from stack import Stack

    with Stack.start(tmp_path_factory.mktemp("frontend-stack"), champion="train") as running:
        yield running


@pytest.fixture(scope="module")
def own_site(own_stack: Any) -> Iterator[Nginx]:
    with running_nginx(own_stack.gateway_url) as server:
        yield server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _new_page(browser: Any, width: int, height: int) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A desktop-sized tab; fails the test on any uncaught JavaScript error."""
    context, tab, errors = _new_page(browser, 1280, 900)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    """A 375 px wide tab, as on a small phone."""
    context, tab, errors = _new_page(browser, 375, 812)
    yield tab
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


# ---------- helpers ----------


def articles(n: int) -> list[tuple[str, str]]:
    """n real AG News (title, description) pairs from the shared test split."""
    out: list[tuple[str, str]] = []
    with open(SHARED_DATA / "test.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            out.append((row["title"], row["description"]))
            if len(out) == n:
                break
    assert len(out) == n, f"{SHARED_DATA / 'test.csv'} has fewer than {n} rows"
    return out


def csv_file(rows: list[tuple[str, str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["title", "description"])
    writer.writerows(rows)
    return buf.getvalue().encode()


def upload(page: Any, name: str, data: bytes, mime: str = "text/csv") -> None:
    page.set_input_files("#b-file", files=[{"name": name, "mimeType": mime, "buffer": data}])
    page.click("#b-submit")


def gateway_answer(
    gateway: Any, method: str, path: str, *, body: bytes | None = None, ctype: str = ""
) -> tuple[int, Any]:
    """The gateway's own answer to a request, straight from it (not through nginx or the page)."""
    headers = {"Content-Type": ctype} if ctype else {}
    req = urllib.request.Request(gateway.gateway_url.rstrip("/") + path, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as res:
            return res.status, json.loads(res.read() or b"null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def champion_of(site: Nginx) -> str | None:
    status, _, body = site.get("/api/v1/models")
    assert status == 200, body
    return json.loads(body)["champion"]


def assert_clean(page: Any) -> None:
    text = page.inner_text("body")
    found = RAW.findall(text)
    assert not found, f"the page shows raw values: {found}"


def assert_no_horizontal_scroll(page: Any) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll: content {widths[0]} px wide in a {widths[1]} px window"


# ---------- Classify ----------


def test_pasted_sports_article_shows_sports_with_four_bars(page: Any, site: Nginx) -> None:
    page.goto(site.url)
    page.fill("#c-title", SPORTS_TITLE)
    page.fill("#c-text", SPORTS_TEXT)  # no click: the page classifies when typing pauses
    page.wait_for_selector("#classify-result:not([hidden])")

    assert page.inner_text("#c-label") == "Sports"
    bars = page.locator("#c-bars li")
    assert bars.count() == 4
    values = [bars.nth(i).locator(".bar-value").inner_text() for i in range(4)]
    assert all(re.fullmatch(r"\d{1,3}\.\d%", v) for v in values), values
    assert abs(sum(float(v[:-1]) for v in values) - 100) < 0.5
    assert page.locator("#c-bars li.top").get_attribute("data-label") == "Sports"
    version = page.inner_text("#c-version")
    assert version == champion_of(site)
    assert_clean(page)
    screenshot(page, "classify-sports")

    # The button classifies too (and free text without a title goes as `texts`).
    page.fill("#c-title", "")
    page.fill("#c-text", SPORTS_TEXT)
    page.click("#c-submit")
    expect(page.locator("#c-submit")).to_have_text("Classify")
    assert page.inner_text("#c-label") == "Sports"


def test_empty_classify_says_what_to_do(page: Any, site: Nginx) -> None:
    page.goto(site.url)
    page.click("#c-submit")
    assert "Type or paste an article first" in page.inner_text("#classify-error")


def test_every_control_is_labelled(page: Any, site: Nginx) -> None:
    page.goto(site.url)
    unlabelled = page.evaluate(
        """Array.from(document.querySelectorAll('input, select, textarea, button'))
            .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
            .map((e) => e.id || e.outerHTML.slice(0, 80))"""
    )
    assert unlabelled == []
    assert page.locator("html").get_attribute("lang") == "en"


def test_keyboard_moves_between_tabs(page: Any, site: Nginx) -> None:
    page.goto(site.url)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.focus("#tab-classify")
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-bulk", "aria-selected") == "true"
    assert page.is_visible("#panel-bulk") and not page.is_visible("#panel-classify")
    assert page.evaluate("document.activeElement.id") == "tab-bulk"
    page.keyboard.press("End")
    assert page.is_visible("#panel-models")
    assert page.url.endswith("#models")


# ---------- Bulk ----------


def test_bulk_upload_of_200_articles(page: Any, site: Nginx) -> None:
    page.goto(site.url + "#bulk")
    polls: list[float] = []
    page.on("request", lambda r: polls.append(time.monotonic()) if re.search(r"/api/v1/jobs/[^/]+$", r.url) else None)
    upload(page, "articles.csv", csv_file(articles(200)))
    page.wait_for_selector("#bulk-job:not([hidden])")
    screenshot(page, "bulk-progress")
    page.wait_for_selector("#bulk-results:not([hidden])", timeout=180_000)

    assert page.get_attribute("#bulk-results", "data-rows") == "200"
    assert page.inner_text("#b-summary").startswith("200 articles classified")
    assert page.get_attribute("#b-progress", "aria-valuenow") == "100"
    # Polled with backoff between 0.5 and 2 s, not hammered and not on a fixed 5 s beat.
    gaps = [b - a for a, b in itertools.pairwise(polls)]
    assert polls and all(0.4 <= g <= 4.0 for g in gaps), gaps  # upper bound: 2 s + a slow answer
    # The chart: one bar per class, counts adding up to 200.
    groups = page.locator("#b-chart g[data-label]")
    assert groups.count() == 4
    counts = {
        groups.nth(i).get_attribute("data-label"): int(groups.nth(i).get_attribute("data-count")) for i in range(4)
    }
    assert sum(counts.values()) == 200
    assert page.locator("#b-chart rect").count() == 8
    # Paged table.
    assert page.locator("#b-table tbody tr").count() == 25
    assert page.inner_text("#b-count") == "Rows 1–25 of 200"
    page.click("#b-next")
    assert page.inner_text("#b-count") == "Rows 26–50 of 200"
    page.select_option("#b-page-size", "100")
    assert page.locator("#b-table tbody tr").count() == 100
    assert_clean(page)
    screenshot(page, "bulk-results")

    # Filter by label.
    label, n = max(counts.items(), key=lambda kv: kv[1])
    page.select_option("#b-filter", label)
    rows = page.locator("#b-table tbody tr")
    assert rows.count() == min(n, 100)
    assert {rows.nth(i).get_attribute("data-label") for i in range(rows.count())} == {label}
    assert page.inner_text("#b-count").endswith(f"of {n} ({label})")
    page.select_option("#b-filter", "")

    # Sort by confidence, highest first.
    page.click("#b-table th.col-conf button")
    assert page.get_attribute("#b-table th.col-conf", "aria-sort") == "descending"
    shown = [float(t[:-1]) for t in page.locator("#b-table tbody td:last-child").all_inner_texts()]
    assert shown == sorted(shown, reverse=True)
    screenshot(page, "bulk-sorted")

    # CSV download: the whole result, columns as in the API contract.
    with page.expect_download() as info:
        page.click("#b-download")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    table = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8-sig"))))
    assert len(table) == 200
    assert {"id", "text", "label", "label_id"} <= set(table[0])
    assert sum(1 for r in table if r["label"] == label) == n


def test_bad_file_shows_the_gateways_422(page: Any, site: Nginx, gateway: Any) -> None:
    bad = b"headline;body\nno,known,columns\n"
    page.goto(site.url + "#bulk")
    upload(page, "bad.csv", bad)
    page.wait_for_selector("#bulk-error[data-status='422']")
    text = page.inner_text("#bulk-error")
    assert "HTTP 422" in text
    body, ctype = multipart("bad.csv", bad)
    status, answer = gateway_answer(gateway, "POST", "/v1/batch-jobs", body=body, ctype=ctype)
    assert status == 422
    assert answer["detail"] in text
    assert_clean(page)
    screenshot(page, "error-422")


def test_too_many_articles_shows_the_gateways_413(page: Any, site: Nginx, gateway: Any) -> None:
    limit = int(getattr(gateway, "max_batch_articles", 100_000))
    data = b"".join(b"short article %d\n" % i for i in range(limit + 1))
    body, ctype = multipart("many.txt", data)
    status, answer = gateway_answer(gateway, "POST", "/v1/batch-jobs", body=body, ctype=ctype)
    assert status == 413, answer
    page.goto(site.url + "#bulk")
    upload(page, "many.txt", data, mime="text/plain")
    page.wait_for_selector("#bulk-error[data-status='413']")
    text = page.inner_text("#bulk-error")
    assert "Too large (HTTP 413)" in text
    assert answer["detail"] in text
    assert_clean(page)
    screenshot(page, "error-413")


# ---------- errors from a missing gateway and a dead network ----------


def test_inference_down_shows_the_gateways_503(page: Any, site: Nginx, gateway: Any) -> None:
    page.goto(site.url)
    gateway.kill("inference")
    try:
        page.fill("#c-text", SPORTS_TEXT)
        page.click("#c-submit")
        page.wait_for_selector("#classify-error[data-status='503']")
        text = page.inner_text("#classify-error")
        assert "Service unavailable (HTTP 503)" in text
        assert "inference service unavailable" in text
        assert_clean(page)
        screenshot(page, "error-503-inference-down")
    finally:
        gateway.start_inference()
    page.click("#c-submit")
    page.wait_for_selector("#classify-result:not([hidden])")
    assert page.is_hidden("#classify-error")


def test_gateway_down_shows_503(page: Any) -> None:
    with running_nginx(dead_gateway_url()) as orphan:
        page.goto(orphan.url)
        page.fill("#c-text", SPORTS_TEXT)
        page.click("#c-submit")
        page.wait_for_selector("#classify-error[data-status='503']")
        text = page.inner_text("#classify-error")
        assert "Service unavailable (HTTP 503)" in text
        assert "gateway is not reachable" in text
        page.wait_for_selector("#service-status[data-state='down']")
        assert_clean(page)
        screenshot(page, "error-503-gateway-down")


def test_network_down_says_so(page: Any, site: Nginx) -> None:
    page.goto(site.url)
    page.route("**/api/v1/classify", lambda route: route.abort("internetdisconnected"))
    page.fill("#c-text", SPORTS_TEXT)
    page.click("#c-submit")
    page.wait_for_selector("#classify-error[data-status='0']")
    assert "Cannot reach the server" in page.inner_text("#classify-error")
    assert_clean(page)
    screenshot(page, "error-network-down")


# ---------- Models and admin ----------


def test_models_panel_lists_the_champion(page: Any, site: Nginx) -> None:
    champion = champion_of(site)
    assert champion, "the stack has no champion"
    page.goto(site.url + "#models")
    page.wait_for_selector(".model-card")
    assert page.inner_text("#m-champion") == champion
    card = page.locator(f".model-card[data-version='{champion}']")
    assert "champion" in (card.get_attribute("class") or "")
    assert card.locator(".badge.champion").inner_text() == "Champion"
    metrics = card.locator(".metric dd").all_inner_texts()
    assert len(metrics) == 2 and all(re.fullmatch(r"\d{1,3}\.\d%|n/a", m) for m in metrics), metrics
    card.locator("summary").click()
    # Per-class scores of every version that recorded them (the test fixtures' tiny models may not have).
    _, _, body = site.get("/api/v1/models")
    with_scores = [m for m in json.loads(body)["models"] if (m.get("metrics") or {}).get("per_class")]
    for model in with_scores:
        other = page.locator(f".model-card[data-version='{model['version']}']")
        other.locator("summary").click()
        assert other.locator(".per-class tbody tr").count() == len(model["metrics"]["per_class"])
    if not with_scores:
        assert "No per-class scores recorded" in card.inner_text()
    assert_clean(page)
    screenshot(page, "models")


def test_admin_starts_a_training_run_and_sees_progress(page: Any, own_site: Nginx, own_stack: Any) -> None:
    site, gateway = own_site, own_stack
    original = champion_of(site)
    page.goto(site.url + "#models")
    page.wait_for_selector(".model-card")
    page.select_option("#t-preset", "tfidf")
    page.fill("#t-budget", "2")
    page.fill("#t-samples", "2000")
    page.check("#t-feedback")  # the feedback other tests sent joins the training data (docs/monitoring.md)

    page.click("#t-submit")  # no key yet
    page.wait_for_selector("#admin-error[data-status='401']")
    assert "An API key is needed (HTTP 401)" in page.inner_text("#admin-error")
    page.fill("#m-key", "not-the-key")
    page.click("#t-submit")
    page.wait_for_selector("#admin-error[data-status='403']")
    screenshot(page, "error-403")

    page.fill("#m-key", gateway.admin_key)
    page.click("#t-submit")
    expect(page.locator("#admin-msg")).to_contain_text("started")
    job_id = re.search(r"Training run (\S+) started", page.inner_text("#admin-msg")).group(1)  # type: ignore[union-attr]
    mine = f"#train-jobs .job[data-job='{job_id}']"
    job = page.locator(mine)
    assert page.is_hidden("#admin-error")
    # The page's CSP forbids eval, so waits use selectors, not wait_for_function strings.
    page.wait_for_selector(f"{mine}:is([data-state=running], [data-state=succeeded])", timeout=120_000)
    assert job.locator("[role=progressbar]").is_visible()
    assert re.match(r"(Running|Done) \(\d{1,3}%\)", job.locator(".progress-label").inner_text())
    screenshot(page, "training-progress")

    page.wait_for_selector(
        f"{mine}:is([data-state=succeeded], [data-state=failed], [data-state=cancelled])", timeout=600_000
    )
    assert job.get_attribute("data-state") == "succeeded", job.inner_text()
    with gateway.client(headers=gateway.admin_headers) as client:
        jobs = client.get("/v1/jobs", params={"type": "training"}).json()["jobs"]
    assert {j["id"]: j for j in jobs}[job_id]["params"]["with_feedback"] is True
    outcome = job.locator("p.muted").inner_text()
    assert outcome.startswith("Registered v"), outcome
    new_version = outcome.split()[1]
    page.wait_for_selector(f".model-card[data-version='{new_version}']")
    assert_clean(page)
    screenshot(page, "training-done")

    # Promote the new version (unless training already did), then roll back to where we started.
    if champion_of(site) != new_version:
        page.click(f"button[data-promote='{new_version}']")
        page.wait_for_selector(f".model-card.champion[data-version='{new_version}']")
        assert champion_of(site) == new_version
    page.click("#m-rollback")
    page.wait_for_selector(f".model-card.champion[data-version='{original}']")
    assert champion_of(site) == original
    assert f"champion is now {original}" in page.inner_text("#admin-msg")
    screenshot(page, "rolled-back")


# ---------- feedback and the Monitor tab ----------


def test_wrong_category_sends_feedback_and_the_monitor_tab_plots_it(page: Any, site: Nginx) -> None:
    page.goto(site.url)
    page.fill("#c-title", SPORTS_TITLE)
    page.fill("#c-text", SPORTS_TEXT)
    page.click("#c-submit")
    expect(page.locator("#c-submit")).to_have_text("Classify")
    assert page.is_visible("#c-feedback")
    predicted = page.inner_text("#c-label")
    page.click("#c-wrong summary")
    choices = page.locator("#c-choices button")
    assert choices.count() == 3 and predicted not in choices.all_inner_texts()
    label = choices.first.get_attribute("data-label")
    with page.expect_response("**/api/v1/feedback") as info:
        choices.first.click()
    sent = info.value
    assert sent.status == 200
    body = sent.json()
    assert (body["label"], body["predicted"], body["correct"]) == (label, predicted, False)
    assert json.loads(sent.request.post_data)["prediction_id"] == body["prediction_id"]
    expect(page.locator("#c-feedback-msg")).to_have_text(f"Thanks: recorded as {label} (the model said {predicted}).")
    assert_clean(page)
    screenshot(page, "classify-feedback")

    # The Monitor tab shows what the API says, with the plots drawn from its history.
    page.click("#tab-monitor")
    page.wait_for_selector("#mon-now .metric")
    _, _, raw = site.get("/api/v1/monitoring")
    summary = json.loads(raw)
    live = {r["model_version"]: r for r in summary["live_accuracy"]}[summary["champion"]]
    assert page.inner_text("#mon-champion") == summary["champion"]
    assert page.inner_text("#mon-live-accuracy") == f"{live['accuracy'] * 100:.1f}%"
    assert page.inner_text("#mon-length-drift") == f"{summary['drift']['input_length']:.3f}"
    assert summary["drift"]["unknown_words"] is not None  # the champion was published with its vocabulary
    assert page.inner_text("#mon-unknown-drift") == f"{summary['drift']['unknown_words']:.3f}"
    assert page.locator(f"#mon-versions tr[data-version='{summary['champion']}']").count() == 1
    with_feedback = [h for h in summary["history"] if h["accuracy"] is not None]
    with_drift = [h for h in summary["history"] if h["drift_label_mix"] is not None]
    assert with_feedback and with_drift, summary["history"]
    assert page.get_attribute("#mon-accuracy", "data-points") == str(len(with_feedback))
    assert page.locator("#mon-accuracy circle").count() == len(with_feedback)
    assert page.get_attribute("#mon-drift", "data-points") == str(len(with_drift))
    assert page.locator("#mon-drift line.threshold").count() == 1
    bars = page.locator("#mon-mix g[data-label]")
    assert bars.count() == 4
    total = sum(summary["label_mix_live"].values())
    sports = page.locator("#mon-mix g[data-label='Sports']").get_attribute("data-live")
    assert float(sports or "nan") == pytest.approx(summary["label_mix_live"]["Sports"] / total, abs=1e-4)
    assert_clean(page)
    screenshot(page, "monitor")


# ---------- phone width ----------


def test_no_horizontal_scroll_at_375px(phone: Any, site: Nginx) -> None:
    phone.goto(site.url)
    phone.fill("#c-title", SPORTS_TITLE)
    phone.fill("#c-text", SPORTS_TEXT)
    phone.wait_for_selector("#classify-result:not([hidden])")
    assert_no_horizontal_scroll(phone)
    screenshot(phone, "phone-classify")

    phone.click("#tab-bulk")
    upload(phone, "some.csv", csv_file(articles(30)))
    phone.wait_for_selector("#bulk-results:not([hidden])", timeout=180_000)
    assert_no_horizontal_scroll(phone)
    screenshot(phone, "phone-bulk")

    phone.click("#tab-monitor")
    phone.wait_for_selector("#mon-now .metric")
    assert_no_horizontal_scroll(phone)
    screenshot(phone, "phone-monitor")

    phone.click("#tab-models")
    phone.wait_for_selector(".model-card")
    for summary in phone.locator(".model-card summary").all():
        summary.click()
    assert_no_horizontal_scroll(phone)
    assert_clean(phone)
    screenshot(phone, "phone-models")
