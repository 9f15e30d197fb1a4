"""The upload page: the progress bar appears only once a file is being sent, and an extract
whose header does not match the policy is refused on the page as soon as the header is in.
"""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.e2e.browser.conftest import SAMPLE, log_in, shot

#: Records every change of the progress box's ``hidden`` attribute, from page load on.
WATCH_PROGRESS = """
window.progressSeen = [];
document.addEventListener("DOMContentLoaded", function () {
  var box = document.getElementById("upload-progress");
  new MutationObserver(function () { window.progressSeen.push(box.hidden); })
    .observe(box, {attributes: true, attributeFilter: ["hidden"]});
});
"""


def _wrong_header_extract(folder: Path) -> Path:
    """The sample extract with its last column (the clinical note) renamed."""
    header, _, rest = SAMPLE.read_text(encoding="utf-8").partition("\n")
    columns = header.split(",")
    columns[-1] = "surname"
    path = folder / "wrong-header.csv"
    path.write_text(",".join(columns) + "\n" + rest * 20, encoding="utf-8")
    return path


def test_the_progress_bar_waits_for_an_upload_and_a_wrong_header_is_refused_at_once(
    page: Page, tmp_path: Path
) -> None:
    page.add_init_script(WATCH_PROGRESS)
    log_in(page, "ula")
    expect(page).to_have_url(re.compile(r"/web/upload$"))
    progress = page.locator("#upload-progress")
    expect(progress).to_be_hidden()  # no file yet: no empty bar
    assert page.locator("#upload-bar").bounding_box() is None
    page.get_by_label("Dataset").select_option("sample-extract")
    page.get_by_label("Extract file").set_input_files(str(_wrong_header_extract(tmp_path)))
    expect(progress).to_be_hidden()  # chosen, not yet sent
    shot(page, "upload-file-chosen")

    page.get_by_role("button", name="Upload").click()
    alert = page.locator("#upload-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text("wrong-header.csv")
    expect(alert).to_contain_text("line 1")
    expect(alert).to_contain_text("not declared in policy 'sample-extract'")
    expect(progress).to_be_hidden()  # the refusal replaces the bar
    expect(page.get_by_role("button", name="Upload")).to_be_enabled()
    # The bar was shown while the file was being sent, then hidden again.
    assert page.evaluate("window.progressSeen") == [False, True]
    shot(page, "upload-wrong-header")
