"""Albums in a real browser (Debian's Chromium through Playwright, the fixtures of
test_browser.py): several photos dropped on the upload page, the gallery by keyboard and
swipe, full screen with zoom, the "opened before" line, "I'm done, delete it now", axe in
light and dark, a 320 px phone, and the whole flow without JavaScript."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from shares.models import Share

from . import test_browser
from .helpers import stored_keys
from .test_browser import (
    AXE,
    CHROMIUM,
    PHONE,
    TOKEN_URL,
    axe_violations,
    choose_option,
    photo_file,
    record_progress,
    snap,
    throttle_uploads,
)

# test_browser.py's fixtures, found by pytest under these names in this module.
browser = test_browser.browser
site = test_browser.site
open_context = test_browser.open_context
screenshot_dir = test_browser.screenshot_dir

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
    pytest.mark.django_db(transaction=True),
]

# Four photos of different shapes, so each one shown can be told from the others; the
# third is an ID card's shape.
SIZES = [(800, 600), (600, 800), (1000, 630), (640, 480)]
NOTE = "Front and back of the card.\nThe <b>PIN</b> is on the back: <script>alert(1)</script>"


def album_files(tmp_path: Path, count: int = 4) -> list[Path]:
    names = ["front.jpg", "back.jpg", "card.jpg", "page.jpg"]
    return [photo_file(tmp_path, name=names[i], size=SIZES[i]) for i in range(count)]


def make_album(make_share, tmp_path: Path, count: int = 4, **options):
    photos = [path.read_bytes() for path in album_files(tmp_path, count)]
    return make_share(photos=photos, **options)


def drop_files(page, selector: str, paths: list[Path]) -> None:
    """Drop several files from the desktop at once: the events a real drag delivers."""
    transfer = page.evaluate_handle(
        """(files) => {
          const transfer = new DataTransfer();
          for (const [bytes, name] of files) {
            transfer.items.add(new File([new Uint8Array(bytes)], name, {type: "image/jpeg"}));
          }
          return transfer;
        }""",
        [[list(path.read_bytes()), path.name] for path in paths],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": transfer})


def photo_requests(page) -> list:
    """Every request the page makes for a photo's one-time address, as it makes it."""
    seen = []
    page.on(
        "request",
        lambda request: (
            "/v/" in request.url
            and not request.url.endswith("/done")
            and seen.append((request.method, request.url, request.headers.get("referer")))
        ),
    )
    return seen


def shown_photo(page):
    return page.locator("#photo img:visible")


# --- the upload page ---------------------------------------------------------------------


def test_an_album_is_uploaded_by_dropping_three_files_with_one_progress_bar(
    open_context, site, tmp_path
):
    page = open_context(viewport=PHONE).new_page()
    page.goto(site + "/")
    expect(page.locator("#id_photo")).to_have_attribute("multiple", "")
    front, back, card = album_files(tmp_path, 3)
    drop_files(page, "#dropzone", [front, back, card])
    items = page.locator("#preview-list li")
    expect(items).to_have_count(3)
    expect(page.locator("#photo-status")).to_contain_text("3 photos dropped")
    expect(page.locator("#preview-total")).to_have_text(re.compile(r"^3 photos, \d+ KB in all$"))
    for index, name in enumerate(["front.jpg", "back.jpg", "card.jpg"]):
        expect(items.nth(index).locator(".preview-name")).to_have_text(name)
        expect(items.nth(index).locator(".preview-size")).to_have_text(re.compile(r"^\d+ KB$"))
        expect(items.nth(index).locator(".preview-position")).to_have_text(f"Photo {index + 1}")
        expect(items.nth(index).get_by_role("img", name=f"Preview of {name}")).to_be_visible()

    # Removed before sending, then added again on its own: it comes last.
    page.get_by_role("button", name="Remove back.jpg").click()
    expect(items).to_have_count(2)
    expect(page.locator("#photo-status")).to_have_text("Removed back.jpg.")
    expect(page.get_by_role("button", name="Remove card.jpg")).to_be_focused()
    drop_files(page, "#dropzone", [back])
    expect(items).to_have_count(3)
    expect(items.nth(2).locator(".preview-name")).to_have_text("back.jpg")
    # The same photo twice is sent once.
    drop_files(page, "#dropzone", [back])
    expect(items).to_have_count(3)

    page.get_by_label("Note").fill(NOTE)
    expect(page.locator("#note-count")).to_have_text(f"{len(NOTE)} of 1,000 characters")
    expect(page.get_by_label("Note")).to_have_attribute("maxlength", "1000")
    # "Let viewers delete it" is for "No limit" links only.
    can_end = page.get_by_label("Let viewers delete it when they are done")
    choose_option(page, "3 times")
    expect(can_end).to_be_hidden()
    choose_option(page, "No limit")
    expect(can_end).to_be_visible()
    can_end.check()
    choose_option(page, "3 times")
    expect(can_end).to_be_hidden()

    throttle_uploads(page, 60_000)
    record_progress(page)
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("progressbar")).to_have_count(1)
    expect(page.get_by_role("progressbar")).to_be_visible()
    expect(page.locator("#progress-label")).to_have_text("Uploading 3 photos…")
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible(timeout=30_000)
    shown = page.evaluate("window.seenProgress")
    assert [int(p.rstrip("%")) for p in shown] == sorted(int(p.rstrip("%")) for p in shown)
    assert shown[-1] == "100%" and len(shown) > 2, shown
    assert page.url == site + "/"
    assert TOKEN_URL.match(page.locator("#share-url").input_value())

    # What was removed, photo by photo, with the names the sender's files had.
    removed = page.locator("#removed li")
    expect(removed).to_have_count(3)
    for index, name in enumerate(["front.jpg", "card.jpg", "back.jpg"]):
        expect(removed.nth(index)).to_contain_text(f"Photo {index + 1} ({name}): camera model")
    expect(page.locator("#created")).to_contain_text("works 3 times")

    share = Share.objects.get()
    assert share.photo_count == 3 and share.has_note
    assert not share.viewer_can_end  # unchecked by going back to "3 times"
    assert [photo.width for photo in share.photos.all()] == [800, 1000, 600]


def test_too_many_photos_or_too_many_bytes_are_refused_at_once_naming_the_photo(
    open_context, site, tmp_path, settings
):
    settings.SEEN_MAX_PHOTOS = 3
    page = open_context().new_page()
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.goto(site + "/")
    expect(page.locator("#photo-hint")).to_contain_text("Up to 3 photos")
    files = album_files(tmp_path, 4)
    page.locator("#id_photo").set_input_files(files)
    expect(page.locator("#preview-list li")).to_have_count(3)
    expect(page.get_by_role("alert")).to_have_text(
        "“page.jpg” was not added: one link holds up to 3 photos."
    )
    expect(page.get_by_role("button", name="Add photos")).to_be_hidden()

    sizes = [path.stat().st_size for path in files]
    settings.SEEN_MAX_SHARE_BYTES = sizes[0] + sizes[1] + 10
    page.reload()
    page.locator("#id_photo").set_input_files(files[:3])
    expect(page.locator("#preview-list li")).to_have_count(2)
    expect(page.get_by_role("alert")).to_contain_text(
        "“card.jpg” was not added: with it the photos would come to "
    )
    expect(page.get_by_role("alert")).to_contain_text("and the limit for one link is")

    settings.SEEN_MAX_UPLOAD_BYTES = sizes[0] - 1
    page.reload()
    page.locator("#id_photo").set_input_files(files[:1])
    expect(page.get_by_role("alert")).to_contain_text("“front.jpg” is ")
    expect(page.locator("#preview")).to_be_hidden()
    assert posts == []


# --- viewing an album --------------------------------------------------------------------


def test_the_gallery_goes_by_keyboard_and_swipe_and_full_screen_zooms_and_closes(
    open_context, site, tmp_path, make_share
):
    created = make_album(make_share, tmp_path, views=3, note=NOTE)
    page = open_context().new_page()
    fetched = photo_requests(page)
    page.goto(f"{site}/s/{created.token}")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "4 photos and a note were shared with you"
    )
    expect(page.locator("#views-left")).to_have_text(
        "These photos can be viewed 3 more times. They will be deleted after the last one."
    )
    expect(page.locator("#open-note")).to_contain_text("only pressing “View photos” counts")
    page.get_by_role("button", name="View photos").click()

    expect(page.get_by_role("img", name="Photo 1 of 4")).to_be_visible()
    expect(page.locator("#gallery-counter")).to_have_text("1 of 4")
    expect(page.locator("#views-left")).to_have_text(
        "This link can be opened 2 more times. Each view uses one."
    )
    # The note as plain text: its line break kept, its markup shown, never run.
    note = page.locator("#album-note-text")
    expect(note).to_have_text(NOTE)
    assert note.evaluate("p => p.innerText") == NOTE
    assert note.evaluate("p => p.children.length") == 0
    assert note.evaluate("p => getComputedStyle(p).whiteSpace") == "pre-wrap"

    # Each photo fetched once with GET and no referrer, then shown from a blob URL; no
    # /v/ address is left anywhere on the page.
    page.wait_for_function("document.querySelectorAll('#photo img').length === 4")
    assert len(fetched) == 4 and all(method == "GET" for method, _, _ in fetched)
    assert len({url for _, url, _ in fetched}) == 4
    assert not any(referer for _, _, referer in fetched), fetched
    sources = page.locator("#photo img").evaluate_all("imgs => imgs.map(i => i.src)")
    assert all(src.startswith("blob:") for src in sources)
    assert "/v/" not in page.content()
    widths = page.locator("#photo img").evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [w for w, _ in SIZES]

    page.keyboard.press("ArrowRight")
    expect(page.locator("#gallery-counter")).to_have_text("2 of 4")
    expect(shown_photo(page)).to_have_attribute("alt", "Photo 2 of 4")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(page.locator("#gallery-counter")).to_have_text("4 of 4")  # round to the last
    page.get_by_role("button", name="Next photo").click()
    expect(page.locator("#gallery-counter")).to_have_text("1 of 4")
    # A swipe to the left, as a finger does on a phone.
    page.evaluate(
        """() => {
          const figure = document.getElementById("photo");
          const box = figure.getBoundingClientRect();
          const y = box.top + box.height / 2;
          const at = (type, x) => figure.dispatchEvent(new PointerEvent(type,
            {bubbles: true, pointerType: "touch", clientX: x, clientY: y, pointerId: 7}));
          at("pointerdown", box.right - 20);
          at("pointerup", box.left + 20);
        }"""
    )
    expect(page.locator("#gallery-counter")).to_have_text("2 of 4")

    # Full screen from the keyboard; Esc leaves it and the focus is back where it was.
    full = page.get_by_role("button", name="Full screen")
    full.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Photo, full screen")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Close")).to_be_focused()
    expect(dialog.get_by_role("img", name="Photo 2 of 4")).to_be_visible()
    stage = page.locator("#fs-stage")
    expect(stage).to_have_attribute("data-zoom", "1.00")
    page.keyboard.press("+")
    expect(stage).to_have_attribute("data-zoom", "1.50")
    transform = dialog.get_by_role("img").evaluate("img => img.style.transform")
    assert transform.endswith("scale(1.5)"), transform
    page.keyboard.press("+")
    expect(stage).to_have_attribute("data-zoom", "2.25")
    page.keyboard.press("-")
    expect(stage).to_have_attribute("data-zoom", "1.50")
    page.keyboard.press("0")
    expect(stage).to_have_attribute("data-zoom", "1.00")
    stage.dblclick()
    expect(stage).to_have_attribute("data-zoom", "2.50")
    stage.dblclick()
    expect(stage).to_have_attribute("data-zoom", "1.00")
    page.mouse.move(640, 300)
    page.mouse.wheel(0, -200)
    expect(stage).not_to_have_attribute("data-zoom", "1.00")
    page.keyboard.press("0")
    page.keyboard.press("ArrowRight")
    expect(page.locator("#fs-counter")).to_have_text("3 of 4")
    expect(dialog.get_by_role("img", name="Photo 3 of 4")).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(full).to_be_focused()
    expect(page.locator("#gallery-counter")).to_have_text("3 of 4")
    expect(shown_photo(page)).to_have_attribute("alt", "Photo 3 of 4")
    # Also the Close button; a click on the photo opens it too.
    shown_photo(page).click()
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()
    assert len(fetched) == 4  # nothing was fetched again


def test_an_id_card_is_readable_full_screen_on_a_320_pixel_phone_with_a_double_tap(
    open_context, site, tmp_path, make_share
):
    created = make_album(make_share, tmp_path, count=3, views=3, prevent_download=True)
    page = open_context(
        viewport={"width": 320, "height": 640},
        has_touch=True,
        is_mobile=True,
        reduced_motion="reduce",  # no easing of the zoom: the sizes are final at once
    ).new_page()
    page.goto(f"{site}/s/{created.token}")
    page.get_by_role("button", name="View photos").click()
    expect(page.locator("#gallery-counter")).to_have_text("1 of 3")
    assert page.evaluate("document.documentElement.scrollWidth") <= 320
    page.get_by_role("button", name="Next photo").click()
    page.get_by_role("button", name="Next photo").click()
    page.get_by_role("button", name="Full screen").click()
    card = page.get_by_role("dialog").get_by_role("img", name="Photo 3 of 3")
    expect(card).to_be_visible()
    box = card.bounding_box()
    assert box["width"] >= 318, box  # the card's whole width is the phone's
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    stage = page.locator("#fs-stage")
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.touchscreen.tap(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    expect(stage).to_have_attribute("data-zoom", "2.50")
    zoomed = card.bounding_box()
    assert zoomed["width"] > 2.4 * box["width"]
    # The protections follow the photo full screen.
    prevented = page.evaluate(
        """() => {
          const event = new MouseEvent("contextmenu", {bubbles: true, cancelable: true});
          document.querySelector("#fs-stage img").dispatchEvent(event);
          return [event.defaultPrevented, document.querySelector("#fs-stage img").draggable];
        }"""
    )
    assert prevented == [True, False]
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()


def test_the_opened_before_line_tells_the_next_viewer_in_their_own_time(
    open_context, site, tmp_path, make_share
):
    created = make_album(make_share, tmp_path, count=2, views=3)
    url = f"{site}/s/{created.token}"
    first = open_context(timezone_id="Asia/Tokyo").new_page()
    first.goto(url)
    expect(first.locator("#opened-before")).to_have_text("This link has not been opened yet.")
    first.reload()  # looking costs nothing and is not an opening
    expect(first.locator("#opened-before")).to_have_text("This link has not been opened yet.")
    first.get_by_role("button", name="View photos").click()
    expect(first.locator("#gallery-counter")).to_have_text("1 of 2")

    second = open_context(timezone_id="Asia/Tokyo").new_page()
    second.goto(url)
    line = second.locator("#opened-before")
    expect(line.locator("time")).to_have_attribute("data-localised", "true")
    expect(line).to_have_text(
        re.compile(r"^It was opened once before, (today|yesterday) at \d{1,2}:\d\d [AP]M GMT\+9\.$")
    )
    second.get_by_role("button", name="View photos").click()
    expect(second.locator("#gallery-counter")).to_have_text("1 of 2")

    # Without script: the same line, in UTC.
    third = open_context(java_script_enabled=False).new_page()
    third.goto(url)
    expect(third.locator("#opened-before")).to_have_text(
        re.compile(r"^It was opened 2 times before, last (today|yesterday) at \d\d:\d\d UTC\.$")
    )


def test_im_done_deletes_it_now_after_an_in_page_confirmation(
    open_context, site, tmp_path, make_share
):
    created = make_album(make_share, tmp_path, count=2, views=3, note="Thanks!")
    page = open_context().new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(f"{site}/s/{created.token}")
    page.get_by_role("button", name="View photos").click()
    expect(page.locator("#gallery-counter")).to_have_text("1 of 2")
    done = page.get_by_role("button", name="I'm done, delete it now")
    expect(done).to_be_visible()

    done.click()
    confirm = page.get_by_role("group", name="Delete it for everyone now?")
    expect(confirm).to_be_visible()
    keep = confirm.get_by_role("button", name="Keep it")
    expect(keep).to_be_focused()
    keep.click()
    expect(confirm).to_be_hidden()
    expect(done).to_be_focused()
    assert Share.objects.get().ended_at is None

    done.click()
    confirm.get_by_role("button", name="Yes, delete it now").click()
    status = page.locator("#end-status")
    expect(status).to_have_text(
        "Done: the photos have been deleted from the server, "
        "and the link no longer works for anyone."
    )
    expect(status).to_be_focused()
    expect(page.locator("#gallery")).to_be_hidden()
    expect(page.locator("#photo img")).to_have_count(0)
    expect(page.locator("#album-note")).to_be_hidden()
    assert dialogs == []  # no window.confirm
    share = Share.objects.get()
    assert share.end_reason == "viewer" and share.ended_at is not None
    assert stored_keys() == []

    gone = page.goto(f"{site}/s/{created.token}")
    assert gone.status == 410
    expect(page.get_by_role("heading", name="This photo is gone")).to_be_visible()
    expect(page.locator("main")).to_contain_text("A viewer ended this share when they were done")
    page.goto(f"{site}/m/{created.manage_token}")
    expect(page.locator("#status")).to_have_text("Ended: ended by a viewer")
    expect(page.locator("#photo-count")).to_have_text("2")


def test_a_one_photo_share_offers_im_done_too_and_an_unlimited_one_only_if_allowed(
    open_context, site, make_share
):
    single = make_share(views=3)
    page = open_context().new_page()
    page.goto(f"{site}/s/{single.token}")
    page.get_by_role("button", name="View photo").click()
    expect(page.get_by_role("img", name="The shared photo")).to_be_visible()
    page.get_by_role("button", name="I'm done, delete it now").click()
    page.get_by_role("button", name="Yes, delete it now").click()
    expect(page.locator("#end-status")).to_contain_text("Done: the photos have been deleted")
    assert Share.objects.get(pk=single.share.pk).end_reason == "viewer"

    unlimited = make_share(views=0)
    page.goto(f"{site}/s/{unlimited.token}")
    page.get_by_role("button", name="View photo").click()
    expect(page.get_by_role("img", name="The shared photo")).to_be_visible()
    expect(page.get_by_role("button", name="I'm done, delete it now")).to_be_hidden()

    allowed = make_share(views=0, viewer_can_end=True)
    page.goto(f"{site}/s/{allowed.token}")
    page.get_by_role("button", name="View photo").click()
    expect(page.get_by_role("button", name="I'm done, delete it now")).to_be_visible()


# --- accessibility and small screens -----------------------------------------------------


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_nothing_on_any_album_state(open_context, site, tmp_path, make_share, scheme):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (bash .ci/run does)")
    context = open_context(bypass_csp=True, color_scheme=scheme)
    page = context.new_page()
    found = {}

    def check(name: str) -> None:
        found[name] = axe_violations(page)

    page.goto(site + "/")
    page.locator("#id_photo").set_input_files(album_files(tmp_path, 3))
    expect(page.locator("#preview-list li")).to_have_count(3)
    page.get_by_label("Note").fill(NOTE)
    choose_option(page, "No limit")
    check("upload with several previews")
    page.get_by_role("button", name="Remove front.jpg").focus()
    check("upload, a remove button focused")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible()
    check("created, what was removed from each")

    created = make_album(make_share, tmp_path, views=3, note=NOTE)
    url = f"{site}/s/{created.token}"
    page.goto(url)
    check("open, not opened yet")
    page.get_by_role("button", name="View photos").click()
    expect(page.locator("#gallery-counter")).to_have_text("1 of 4")
    check("gallery")
    page.get_by_role("button", name="Full screen").click()
    page.keyboard.press("+")
    expect(page.locator("#fs-stage")).to_have_attribute("data-zoom", "1.50")
    check("full screen, zoomed")
    page.keyboard.press("Escape")
    page.goto(url)
    expect(page.locator("#opened-before")).to_contain_text("It was opened once before")
    check("open, opened once before")
    page.get_by_role("button", name="View photos").click()
    page.get_by_role("button", name="I'm done, delete it now").click()
    check("confirm step")
    page.get_by_role("button", name="Yes, delete it now").click()
    expect(page.locator("#end-status")).to_be_visible()
    check("deleted")
    page.goto(url)
    check("gone, ended by a viewer")
    page.goto(f"{site}/m/{created.manage_token}")
    check("manage, ended by a viewer")

    # The page a browser without script gets (a native submit skips view.js).
    other = make_album(make_share, tmp_path, count=2, views=3, note=NOTE, prevent_download=True)
    page.goto(f"{site}/s/{other.token}")
    with page.expect_navigation():
        page.evaluate("document.getElementById('view-form').submit()")
    expect(page.get_by_role("heading", name="The shared photos")).to_be_visible()
    check("album page without script")
    page.get_by_label("Yes, delete these photos for everyone now").check()
    with page.expect_navigation():
        page.evaluate("document.getElementById('end-form').submit()")
    expect(page.get_by_role("heading", name="Deleted")).to_be_visible()
    check("deleted without script")

    assert {name: problems for name, problems in found.items() if problems} == {}
    assert len(found) == 13


def test_the_album_pages_fit_a_320_pixel_wide_phone(open_context, site, tmp_path, make_share):
    page = open_context(viewport={"width": 320, "height": 640}).new_page()

    def fits(what: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{what} is {width}px wide"

    page.goto(site + "/")
    long_names = [
        photo_file(tmp_path, name=f"IMG_2026120{i}_a-rather-long-camera-file-name.jpg")
        for i in range(3)
    ]
    page.locator("#id_photo").set_input_files(long_names)
    expect(page.locator("#preview-list li")).to_have_count(3)
    page.get_by_label("Note").fill("x" * 1000)
    fits("the upload page with three previews and a full note")
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible()
    fits("the created page of an album")

    created = make_album(make_share, tmp_path, views=3, note="a" * 300 + "\n" + "b " * 200)
    page.goto(f"{site}/s/{created.token}")
    fits("the open page")
    page.get_by_role("button", name="View photos").click()
    expect(page.locator("#gallery-counter")).to_have_text("1 of 4")
    fits("the gallery with a long note")
    page.get_by_role("button", name="I'm done, delete it now").click()
    fits("the confirm step")
    page.get_by_role("button", name="Keep it").click()
    page.goto(f"{site}/s/{created.token}")
    with page.expect_navigation():
        page.evaluate("document.getElementById('view-form').submit()")
    fits("the album page without script")


# --- without JavaScript ------------------------------------------------------------------


def test_the_album_flow_works_with_javascript_turned_off(
    open_context, site, tmp_path, screenshot_dir
):
    sender = open_context(java_script_enabled=False).new_page()
    sender.goto(site + "/")
    sender.locator("#id_photo").set_input_files(album_files(tmp_path, 3))
    sender.get_by_label("Note").fill(NOTE)
    choose_option(sender, "No limit")
    # Shown without script, with the hint that it matters for "No limit" only.
    expect(sender.locator("#viewer-can-end-hint")).to_contain_text("Only for “No limit” links")
    sender.get_by_label("Let viewers delete it when they are done").check()
    with sender.expect_navigation() as created:
        sender.get_by_role("button", name="Create link").click()
    assert created.value.status == 201
    expect(sender.locator("#removed li")).to_have_count(3)
    expect(sender.locator("#removed li").first).to_contain_text("Photo 1 (front.jpg): camera")
    share_url = sender.locator("#share-url").input_value()
    share = Share.objects.get()
    assert share.photo_count == 3 and share.viewer_can_end and share.view_limit is None

    viewer = open_context(java_script_enabled=False).new_page()
    photo_answers = []
    viewer.on(
        "response",
        lambda response: "/v/" in response.url and photo_answers.append(response.status),
    )
    viewer.goto(share_url)
    expect(viewer.get_by_role("heading", level=1)).to_have_text(
        "3 photos and a note were shared with you"
    )
    expect(viewer.locator("#opened-before")).to_have_text("This link has not been opened yet.")
    with viewer.expect_navigation() as viewed:
        viewer.get_by_role("button", name="View photos").click()
    assert viewed.value.status == 200
    assert viewed.value.headers["content-type"].startswith("text/html")
    expect(viewer.get_by_role("heading", name="The shared photos")).to_be_visible()
    # The note escaped, its line break a <br>.
    note = viewer.locator("#album-note-text")
    assert note.inner_html() == (
        "Front and back of the card.<br>The &lt;b&gt;PIN&lt;/b&gt; is on the back: "
        "&lt;script&gt;alert(1)&lt;/script&gt;"
    )
    images = viewer.locator(".album-photos img")
    expect(images).to_have_count(3)
    for index in range(3):
        expect(images.nth(index)).to_have_attribute("alt", f"Photo {index + 1} of 3")
    viewer.wait_for_function(
        "[...document.querySelectorAll('.album-photos img')].every(i => i.complete)"
    )
    widths = images.evaluate_all("imgs => imgs.map(i => i.naturalWidth)")
    assert widths == [800, 600, 1000]
    assert photo_answers == [200, 200, 200]  # each photo loaded once
    expect(viewer.locator("#views-left")).to_have_text(
        "These photos can be viewed any number of times until their link expires."
    )
    snap(viewer, f"{screenshot_dir}/no-js-3-album.png")

    # The done form: its checkbox is required, then it ends the share.
    done = viewer.get_by_role("button", name="I'm done, delete it now")
    done.click()
    expect(viewer.get_by_role("heading", name="The shared photos")).to_be_visible()
    assert Share.objects.get().ended_at is None
    viewer.get_by_label("Yes, delete these photos for everyone now").check()
    with viewer.expect_navigation() as ended:
        done.click()
    assert ended.value.status == 200
    expect(viewer.get_by_role("heading", name="Deleted")).to_be_visible()
    share = Share.objects.get()
    assert share.end_reason == "viewer"
    assert stored_keys() == []

    again = viewer.goto(share_url)
    assert again.status == 410
    expect(viewer.locator("main")).to_contain_text("A viewer ended this share when they were done")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_screenshots_of_the_album_pages_on_a_phone(
    open_context, site, tmp_path, make_share, screenshot_dir, scheme
):
    options = {"viewport": PHONE, "color_scheme": scheme, "device_scale_factor": 2}
    page = open_context(**options, is_mobile=True, has_touch=True).new_page()
    prefix = screenshot_dir / f"album-phone-{scheme}"
    page.goto(site + "/")
    page.locator("#id_photo").set_input_files(album_files(tmp_path, 3))
    expect(page.locator("#preview-list li")).to_have_count(3)
    page.get_by_label("Note").fill(NOTE)
    snap(page, f"{prefix}-1-upload.png")
    created = make_album(make_share, tmp_path, views=3, note=NOTE)
    page.goto(f"{site}/s/{created.token}")
    snap(page, f"{prefix}-2-open.png")
    page.get_by_role("button", name="View photos").click()
    expect(page.locator("#gallery-counter")).to_have_text("1 of 4")
    page.wait_for_function("[...document.querySelectorAll('#photo img')].every(i => i.complete)")
    snap(page, f"{prefix}-3-gallery.png")
    page.get_by_role("button", name="Full screen").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.screenshot(path=f"{prefix}-4-full-screen.png")
    page.keyboard.press("Escape")
    page.get_by_role("button", name="I'm done, delete it now").click()
    snap(page, f"{prefix}-5-confirm.png")
    for name in ("1-upload", "3-gallery", "4-full-screen"):
        assert Path(f"{prefix}-{name}.png").stat().st_size > 10_000
