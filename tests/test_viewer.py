"""nnUNetv2_tmca_viewer as a person uses it: a real headless Chromium opens the printed URL, edits a report and
re-segments; the server's safety checks (token, loopback, no path outside its folders, bounded requests, no report
text in its log, saved reports in new files only).

Needs Debian's chromium (/usr/bin/chromium, or $TMCA_CHROMIUM) and the test extra (playwright, starlette, uvicorn);
.ci/run installs both. TMCA_VIEWER_SCREENSHOT=PATH also writes the page's screenshot there (getting_started.md).
"""
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import urllib.error
import urllib.request

import pytest

from helpers import clean_env

MARKER = "Zqxvwk marker sentence."  # appended to every report: must never reach the server's output
CHROMIUM = os.environ.get("TMCA_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def viewer(trained_tiny_model, tmp_path_factory):
    root, folder, model, _ = trained_tiny_model
    work = tmp_path_factory.mktemp("viewer")
    with open(os.path.join(folder, "reports.json")) as f:
        reports = {k: f"{v} {MARKER}" for k, v in json.load(f).items()}
    reports_path = work / "reports.json"
    reports_path.write_text(json.dumps(reports))
    saved = work / "saved"
    log = open(work / "server.log", "w+")
    proc = subprocess.Popen(["nnUNetv2_tmca_viewer", "-m", str(model), "-f", "0",
                             "-i", os.path.join(folder, "imagesTs"), "--labels", os.path.join(folder, "labelsTs"),
                             "--reports", str(reports_path),
                             "--save_folder", str(saved), "-device", "cpu"],
                            env=clean_env(root), stdout=subprocess.PIPE, stderr=log, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    url, printed = None, []
    while url is None:
        try:
            line = lines.get(timeout=240)
        except queue.Empty:
            break
        printed.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+)/\?token=(\S+)", line)
        url = found and (found.group(1), found.group(2))
    if url is None:
        proc.kill()
        log.seek(0)
        raise AssertionError(f"the viewer printed no URL:\n{''.join(printed)}\n{log.read()[-3000:]}")
    yield {"base": url[0], "token": url[1], "reports": reports, "reports_path": reports_path, "saved": saved,
           "log": work / "server.log", "printed": printed, "proc": proc}
    proc.terminate()
    proc.wait(timeout=30)
    log.close()


def request(v, path, token=True, body=None, header=False):
    url = v["base"] + path
    headers = {"Content-Type": "application/json"}
    if token and header:
        headers["X-Viewer-Token"] = v["token"]
    elif token:
        url += ("&" if "?" in url else "?") + "token=" + v["token"]
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data, headers=headers), timeout=120) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_every_request_needs_the_token(viewer):
    for path in ("/", "/api/cases", "/static/viewer.js", "/api/case/synthts_0000"):
        assert request(viewer, path, token=False)[0] == 403, path
    assert request(viewer, "/api/cases?token=wrong" + viewer["token"][5:], token=False)[0] == 403
    status, body = request(viewer, "/api/cases", header=True)
    assert status == 200 and len(json.loads(body)["cases"]) == 4


def test_listens_on_loopback_only(viewer):
    port = int(viewer["base"].rsplit(":", 1)[1])
    listening = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if os.path.exists(table):
            for row in open(table).read().splitlines()[1:]:
                local, state = row.split()[1], row.split()[3]
                if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                    listening.append(local.rsplit(":", 1)[0])
    assert listening == ["0100007F"], listening  # 127.0.0.1 and nothing else


def test_nothing_outside_the_given_folders(viewer):
    for path in ("/static/..%2F..%2Fsetup.py", "/static/session.py", "/static/%2Fetc%2Fpasswd",
                 "/api/case/..%2F..%2F..%2Fetc%2Fpasswd", "/api/layers/..%2Fsynthts_0000/0", "/api/case/unknown_case"):
        status, body = request(viewer, path)
        assert status == 404, (path, status)
        assert b"root:" not in body and b"setup(" not in body
    status, _ = request(viewer, "/api/segment", body={"case": "../../etc/passwd", "report": None})
    assert status == 404


def test_request_sizes_are_bounded(viewer):
    status, _ = request(viewer, "/api/segment", body={"case": "synthts_0000", "report": "x" * 400_000})
    assert status == 413
    status, body = request(viewer, "/api/segment", body={"case": "synthts_0000", "report": "word " * 10_000})
    assert status == 400 and b"longer than" in body  # under the body bound, over the report bound
    assert request(viewer, "/api/segment", body=b"{not json")[0] == 400


def test_browser_edits_the_report_and_the_mask_changes(viewer, tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM), f"no Chromium at {CHROMIUM}: apt-get install chromium"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 760})
            page.goto(f"{viewer['base']}/?token={viewer['token']}")
            page.wait_for_selector("#case-list li")
            assert page.locator("#case-list li").count() == 4
            page.wait_for_function("!document.getElementById('scoring').textContent", timeout=120_000)
            scores = [float(s) for s in page.locator("#case-list li .score").all_inner_texts()]
            assert scores == sorted(scores)  # lowest agreement first
            page.locator("#case-list li").first.click()
            page.wait_for_selector('#layer-mask[data-generation="1"]', timeout=60_000)
            with_report = page.get_attribute("#layer-mask", "src")
            assert page.locator("#sentences .sentence").count() >= 1 and page.locator("#score").count() == 1
            page.fill("#report", "")  # the edited report: no text at all -> the image-only path
            page.click("#resegment")
            page.wait_for_selector('#layer-mask[data-generation="2"]', timeout=60_000)
            edited = page.get_attribute("#layer-mask", "src")
            assert edited != with_report, "the mask on the page did not change with the edited report"
            page.click("#reset")
            page.wait_for_selector('#layer-mask[data-generation="3"]', timeout=60_000)
            assert page.get_attribute("#layer-mask", "src") == with_report  # same report, same mask
            page.locator("#sentences .drop").last.click()  # drop the marker sentence
            page.wait_for_selector('#layer-mask[data-generation="4"]', timeout=60_000)
            assert MARKER not in page.input_value("#report")
            page.click("#reset")
            page.wait_for_selector('#layer-mask[data-generation="5"]', timeout=60_000)
            shot = tmp_path / "viewer.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("TMCA_VIEWER_SCREENSHOT"):
                shutil.copy(shot, os.environ["TMCA_VIEWER_SCREENSHOT"])
        finally:
            browser.close()


def test_save_writes_a_new_file_and_keeps_the_reports(viewer):
    before = hashlib.sha256(viewer["reports_path"].read_bytes()).hexdigest()
    paths = []
    for _ in range(2):
        status, body = request(viewer, "/api/save", body={"case": "synthts_0001", "report": "edited " + MARKER})
        assert status == 200
        paths.append(json.loads(body)["saved"])
    assert len(set(paths)) == 2 and all(os.path.dirname(p) == str(viewer["saved"]) for p in paths)
    saved = json.load(open(paths[0]))
    assert saved["synthts_0001"] == "edited " + MARKER and saved["synthts_0000"] == viewer["reports"]["synthts_0000"]
    assert hashlib.sha256(viewer["reports_path"].read_bytes()).hexdigest() == before
    assert not [f for f in os.listdir(viewer["saved"]) if not f.endswith(".json")]  # no temporary file left
    assert request(viewer, "/api/save", body={"case": "synthts_0001", "report": "  "})[0] == 400


def test_no_report_text_in_the_server_output(viewer):
    request(viewer, "/api/segment", body={"case": "synthts_0002", "report": viewer["reports"]["synthts_0002"]})
    text = viewer["log"].read_text() + "".join(viewer["printed"])
    assert "segmented case synthts_0002" in text  # the log is there, with case ids
    assert "Zqxvwk" not in text
    for report in viewer["reports"].values():
        assert report.replace(MARKER, "").strip() not in text


def test_the_demo_prints_a_viewer_command_that_parses():
    from nnunetv2_tmca.demo import viewer_command
    from nnunetv2_tmca.viewer.cli import parse_args
    args = parse_args(viewer_command("/tmp/demo_out", "nnUNetTrainerTMCA_demo").split()[1:])
    assert args.m.endswith(os.path.join("Dataset999_TMCASynthetic", "nnUNetTrainerTMCA_demo__nnUNetPlans__2d"))
    assert args.i.endswith("imagesTs") and args.labels.endswith("labelsTs")
