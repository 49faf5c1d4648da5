"""The web experience in a real browser: Debian's Chromium driven by Playwright.

Skipped only when /usr/bin/chromium is missing (`bash .ci/run` installs it with apt).
One browser serves the whole session; each test opens fresh contexts (cookie jars), as
different people on different devices would. Screenshots go to bench/out/screenshots/.
"""

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from shares.models import Share

from .helpers import stored_keys

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = django_settings.BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = django_settings.BASE_DIR / "bench" / "out" / "screenshots"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
TOKEN_URL = re.compile(r"^http://[^/]+/s/[A-Za-z0-9_-]{32}$")

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium"
    ),
    pytest.mark.django_db(transaction=True),
]


# Module scope, not session: Playwright's sync API allows one running instance per thread,
# and other test modules start their own.
@pytest.fixture(scope="module")
def browser():
    # The sync API runs an asyncio loop in this thread, which makes Django refuse the
    # tests' own (blocking, ordinary) ORM calls; the live server has its own thread.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def site(live_server) -> str:
    return live_server.url


@pytest.fixture
def open_context(browser):
    """New browser contexts, each failing its test if a page breaks the CSP or throws."""
    contexts = []

    def make(**options):
        context = browser.new_context(**{"viewport": DESKTOP, **options})
        context.problems = []

        def watch(page):
            documents = {}  # the content type of the page's current document

            def on_response(response):
                if response.request.is_navigation_request() and response.frame == page.main_frame:
                    documents["type"] = response.headers.get("content-type", "")

            def on_console(message):
                # Chromium's own viewer for a raw image (the no-script view) has inline
                # styles, which the image response's CSP rightly blocks: not our markup.
                if documents.get("type", "").startswith("image/"):
                    return
                if message.type == "error" and "Content Security Policy" in message.text:
                    context.problems.append(f"{page.url}: {message.text}")

            page.on("response", on_response)
            page.on("console", on_console)
            page.on("pageerror", lambda error: context.problems.append(f"{page.url}: {error}"))

        context.on("page", watch)
        contexts.append(context)
        return context

    yield make
    problems = [problem for context in contexts for problem in context.problems]
    for context in contexts:
        context.close()
    assert problems == []


def photo_file(tmp_path: Path, *, name="holiday.jpg", size=(800, 600), noisy=False) -> Path:
    """A real JPEG carrying a camera model in its EXIF, as phone photos do."""
    if noisy:
        image = Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3))
    else:
        image = Image.linear_gradient("L").resize(size).convert("RGB")
    exif = Image.Exif()
    exif[0x010F] = "Seen Test Camera Co."  # Make
    exif[0x0110] = "Model 7"  # Model
    path = tmp_path / name
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=92, exif=exif)
    path.write_bytes(out.getvalue())
    return path


def choose_option(page, text: str) -> None:
    """Click an option's visible label, as a person does (the radio itself is hidden)."""
    page.locator("label.chip", has_text=re.compile(rf"^\s*{re.escape(text)}\s*$")).click()


def record_progress(page) -> None:
    """Keep every percentage the progress bar shows, to read after the upload."""
    page.evaluate(
        """() => {
          window.seenProgress = [];
          const percent = document.getElementById("progress-percent");
          new MutationObserver(() => window.seenProgress.push(percent.textContent))
            .observe(percent, {childList: true, characterData: true, subtree: true});
        }"""
    )


# --- the whole flow, with script ---------------------------------------------------------


def test_upload_by_file_chooser_copy_the_link_and_view_it_once_with_the_pin(
    open_context, site, tmp_path
):
    sender = open_context(permissions=["clipboard-read", "clipboard-write"])
    page = sender.new_page()
    page.goto(site + "/")
    expect(page.get_by_role("heading", name="Share a photo that disappears")).to_be_visible()

    with page.expect_file_chooser() as chooser:
        page.get_by_text("Choose photos").click()
    chooser.value.set_files(photo_file(tmp_path))
    expect(page.locator("#preview")).to_be_visible()
    expect(page.locator("#preview .preview-name")).to_have_text("holiday.jpg")
    expect(page.locator("#preview .preview-size")).to_have_text(re.compile(r"^\d+ KB$"))
    expect(page.locator("#photo-status")).to_contain_text("Photo chosen: holiday.jpg")

    choose_option(page, "Once")
    page.get_by_label("PIN").fill("4821")
    record_progress(page)
    page.get_by_role("button", name="Create link").click()

    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible()
    assert "100%" in page.evaluate("window.seenProgress")
    # The created page came in the body of the XHR answer: no token in the address bar.
    assert page.url == site + "/"
    share_url = page.locator("#share-url").input_value()
    assert TOKEN_URL.match(share_url)
    expect(page.locator("svg.qr-code")).to_be_visible()
    expect(page.locator(".removed")).to_contain_text("Removed from the photo")
    manage = page.locator("section.private")
    expect(manage).to_contain_text("do not send it")
    assert "/m/" in manage.locator("input").input_value()

    copy = page.locator("#created button[data-copy]")
    expect(copy).to_have_text("Copy link")
    copy.click()
    expect(copy).to_have_text("Copied")
    expect(page.locator("#copy-status")).to_contain_text("copied")
    assert page.evaluate("navigator.clipboard.readText()") == share_url

    viewer = open_context(viewport=PHONE).new_page()
    viewer.goto(share_url)
    expect(viewer.locator("#views-left")).to_have_text(
        "This photo can be viewed 1 more time. It will be deleted after that."
    )
    viewer.get_by_label("PIN").fill("1111")
    viewer.get_by_role("button", name="View photo").click()
    expect(viewer.locator("#view-error")).to_have_text(
        "Wrong PIN. 4 attempts left before the photo is deleted."
    )
    viewer.get_by_label("PIN").fill("4821")
    viewer.get_by_role("button", name="View photo").click()
    photo = viewer.get_by_role("img", name="The shared photo")
    expect(photo).to_be_visible()
    assert photo.get_attribute("src").startswith("blob:")
    assert photo.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [800, 600]
    expect(viewer.locator("#after-view")).to_contain_text(
        "the photo has now been deleted from the server, "
        "and reloading this page will not bring it back"
    )

    again = viewer.reload()
    assert again.status == 410
    expect(viewer.get_by_role("heading", name="This photo is gone")).to_be_visible()
    home = viewer.get_by_role("link", name="Share a photo of your own")
    expect(home).to_have_attribute("href", "/")
    share = Share.objects.get()
    assert share.views_used == 1 and share.pin_failures == 1
    assert stored_keys() == []


def throttle_uploads(page, bytes_per_second: int) -> None:
    """Slow this page's uploads down (Chromium's own network emulation), so progress has
    time to show on a local server."""
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 20,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def drop_file(page, selector: str, path: Path, mime: str = "image/jpeg") -> None:
    """Drop a file from the desktop onto an element: the events a real drag delivers."""
    transfer = page.evaluate_handle(
        """([bytes, name, type]) => {
          const transfer = new DataTransfer();
          transfer.items.add(new File([new Uint8Array(bytes)], name, {type}));
          return transfer;
        }""",
        [list(path.read_bytes()), path.name, mime],
    )
    for event in ("dragenter", "dragover", "drop"):
        page.dispatch_event(selector, event, {"dataTransfer": transfer})


def test_the_qr_code_scans_to_the_share_link(open_context, site, tmp_path):
    if not shutil.which("zbarimg"):
        pytest.fail("zbarimg is missing: apt-get install zbar-tools (bash .ci/run does)")
    page = open_context(viewport=PHONE, device_scale_factor=2).new_page()
    page.goto(site + "/")
    share_url = upload_through_the_page(page, photo_file(tmp_path))
    shot = tmp_path / "qr.png"
    page.locator("svg.qr-code").screenshot(path=str(shot))
    scanned = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(shot)], capture_output=True, text=True, check=True
    )
    assert scanned.stdout.strip() == share_url


def test_a_share_button_appears_where_the_browser_can_share(open_context, site, tmp_path):
    # Desktop Chromium on Linux has no Web Share API; a phone browser does. This stands in
    # for the phone's share sheet and records what the page hands to it.
    context = open_context(viewport=PHONE)
    context.add_init_script(
        """navigator.share = data => { window.sharedWith = data; return Promise.resolve(); };"""
    )
    page = context.new_page()
    page.goto(site + "/")
    share_url = upload_through_the_page(page, photo_file(tmp_path))
    page.get_by_role("button", name="Share…").click()
    assert page.evaluate("window.sharedWith") == {"title": "A photo for you", "url": share_url}

    without = open_context().new_page()
    without.goto(site + "/")
    upload_through_the_page(without, photo_file(tmp_path))
    expect(without.get_by_role("button", name="Share…")).to_be_hidden()


def test_a_dropped_photo_uploads_with_a_progress_bar_that_counts_up(open_context, site, tmp_path):
    page = open_context(viewport=PHONE).new_page()
    page.goto(site + "/")
    big = photo_file(tmp_path, name="big.jpg", size=(600, 450), noisy=True)  # about 500 KB
    drop_file(page, "#dropzone", big)
    expect(page.locator("#photo-status")).to_contain_text("Photo dropped: big.jpg")
    expect(page.get_by_role("img", name="Preview of big.jpg")).to_be_visible()

    throttle_uploads(page, 250_000)
    record_progress(page)
    page.get_by_role("button", name="Create link").click()
    progress = page.get_by_role("progressbar")
    expect(progress).to_be_visible()
    expect(page.get_by_role("button", name="Cancel upload")).to_be_visible()
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible(timeout=20_000)
    shown = page.evaluate("window.seenProgress")
    between = [p for p in shown if p not in ("0%", "100%")]
    assert between, shown
    assert [int(p.rstrip("%")) for p in shown] == sorted(int(p.rstrip("%")) for p in shown)
    assert shown[-1] == "100%"
    assert Share.objects.count() == 1

    # A photo dropped on the created page must not make the browser leave it for the
    # file (the default action of a drop the page does not cancel).
    cancelled = page.evaluate(
        """() => {
          const transfer = new DataTransfer();
          transfer.items.add(new File(["x"], "other.jpg", {type: "image/jpeg"}));
          const drop = new DragEvent(
            "drop", {bubbles: true, cancelable: true, dataTransfer: transfer});
          document.querySelector("main h1").dispatchEvent(drop);
          return drop.defaultPrevented;
        }"""
    )
    assert cancelled is True
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible()


def test_cancel_stops_an_upload_and_nothing_is_shared(open_context, site, tmp_path):
    page = open_context().new_page()
    page.goto(site + "/")
    page.locator("#id_photo").set_input_files(photo_file(tmp_path, size=(900, 700), noisy=True))
    throttle_uploads(page, 50_000)
    page.get_by_role("button", name="Create link").click()
    expect(page.locator("#progress-percent")).not_to_have_text("0%")
    page.get_by_role("button", name="Cancel upload").click()
    expect(page.locator("#photo-status")).to_have_text("Upload cancelled. Nothing was shared.")
    expect(page.get_by_role("button", name="Create link")).to_be_focused()
    expect(page.get_by_role("progressbar")).to_be_hidden()
    # The photo is still chosen: trying again is one click.
    expect(page.locator("#preview")).to_be_visible()
    assert Share.objects.count() == 0
    assert stored_keys() == []


def test_a_pasted_photo_is_taken_with_a_visible_confirmation(open_context, site, tmp_path):
    context = open_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(site + "/")
    png = Image.new("RGB", (320, 200), (30, 120, 200))
    out = io.BytesIO()
    png.save(out, format="PNG")
    # Put a real image on the system clipboard, then press the paste shortcut.
    page.evaluate(
        """async (bytes) => {
          const blob = new Blob([new Uint8Array(bytes)], {type: "image/png"});
          await navigator.clipboard.write([new ClipboardItem({"image/png": blob})]);
        }""",
        list(out.getvalue()),
    )
    page.locator("body").click(position={"x": 5, "y": 5})
    page.keyboard.press("ControlOrMeta+V")
    expect(page.locator("#photo-status")).to_contain_text("Photo pasted from the clipboard")
    expect(page.locator("#preview img")).to_be_visible()
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible()
    assert Share.objects.get().photos.get().content_type == "image/png"


def test_a_file_too_large_or_not_a_photo_is_refused_at_once(open_context, site, tmp_path, settings):
    settings.SEEN_MAX_UPLOAD_BYTES = 20 * 1024
    page = open_context().new_page()
    posts = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.goto(site + "/")
    expect(page.locator("#photo-hint")).to_contain_text("up to 20 KB")

    page.locator("#id_photo").set_input_files(photo_file(tmp_path, size=(900, 700), noisy=True))
    expect(page.get_by_role("alert")).to_contain_text("“holiday.jpg” is ")
    expect(page.get_by_role("alert")).to_contain_text("the limit is 20 KB")
    expect(page.locator("#preview")).to_be_hidden()

    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.locator("#id_photo").set_input_files(notes)
    expect(page.get_by_role("alert")).to_have_text(
        "“notes.txt” is not a photo Seen can share. "
        "Choose a JPEG, PNG, GIF, WebP, HEIC or AVIF image."
    )

    fake = tmp_path / "fake.jpg"
    fake.write_bytes(b"\xff\xd8\xff\xe0 this is not really a JPEG")
    page.locator("#id_photo").set_input_files(fake)
    expect(page.get_by_role("alert")).to_have_text(
        "“fake.jpg” could not be read as an image. Choose another photo."
    )
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("alert")).to_have_text("Choose a photo to share first.")
    assert posts == []


def test_an_iphone_heic_photo_is_taken_even_where_the_browser_cannot_preview_it(
    open_context, site, tmp_path
):
    from .photos import heic_photo

    heic = tmp_path / "IMG_0001.HEIC"
    heic.write_bytes(heic_photo(size=(120, 90)))
    page = open_context().new_page()
    page.goto(site + "/")
    page.locator("#id_photo").set_input_files(heic)
    expect(page.locator("#preview .preview-name")).to_have_text("IMG_0001.HEIC")
    expect(page.get_by_role("alert")).to_be_hidden()
    # Chromium cannot decode HEIC: no preview, a note instead of a refusal.
    expect(page.locator("#preview .preview-note")).to_have_text(
        "This browser cannot show a preview of this format. Seen will turn it into a JPEG."
    )
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible()
    assert Share.objects.get().photos.get().content_type == "image/jpeg"


def test_the_servers_refusal_shows_inline_and_keeps_the_chosen_photo(
    open_context, site, tmp_path, settings
):
    settings.SEEN_MAX_PIXELS = 10_000
    page = open_context().new_page()
    page.goto(site + "/")
    page.locator("#id_photo").set_input_files(photo_file(tmp_path))
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("alert")).to_contain_text("pixels")
    expect(page.get_by_role("heading", name="Share a photo that disappears")).to_be_visible()
    expect(page.locator("#preview")).to_be_visible()
    expect(page.get_by_role("button", name="Create link")).to_be_enabled()
    assert Share.objects.count() == 0


# --- without JavaScript --------------------------------------------------------------------


def test_the_same_flow_works_with_javascript_turned_off(
    open_context, site, tmp_path, screenshot_dir
):
    sender = open_context(java_script_enabled=False).new_page()
    sender.goto(site + "/")
    expect(sender.locator("#id_photo")).to_be_visible()  # the plain file input
    sender.locator("#id_photo").set_input_files(photo_file(tmp_path))
    snap(sender, f"{screenshot_dir}/no-js-1-upload.png")
    choose_option(sender, "Once")
    sender.get_by_label("PIN").fill("4821")
    with sender.expect_navigation() as created:
        sender.get_by_role("button", name="Create link").click()
    assert created.value.status == 201
    expect(sender.get_by_role("heading", name="Your link is ready")).to_be_visible()
    expect(sender.locator("svg.qr-code")).to_be_visible()
    # Buttons that need script stay hidden; the link is there to select and copy.
    expect(sender.locator("#created button[data-copy]")).to_be_hidden()
    snap(sender, f"{screenshot_dir}/no-js-2-created.png")
    share_url = sender.locator("#share-url").input_value()
    assert TOKEN_URL.match(share_url)

    viewer = open_context(java_script_enabled=False, viewport=PHONE).new_page()
    viewer.goto(share_url)
    expect(viewer.locator("#views-left")).to_have_text(
        "This photo can be viewed 1 more time. It will be deleted after that."
    )
    viewer.get_by_label("PIN").fill("1111")
    with viewer.expect_navigation() as wrong:
        viewer.get_by_role("button", name="View photo").click()
    assert wrong.value.status == 403
    expect(viewer.get_by_role("alert")).to_have_text(
        "Wrong PIN. 4 attempts left before the photo is deleted."
    )

    viewer.get_by_label("PIN").fill("4821")
    with viewer.expect_navigation() as viewed:
        viewer.get_by_role("button", name="View photo").click()
    response = viewed.value
    assert response.status == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.body()[:2] == b"\xff\xd8"
    assert "no-store" in response.headers["cache-control"]
    # Chromium shows the bytes as an image document.
    assert viewer.locator("img").evaluate("img => img.naturalWidth") == 800

    again = viewer.goto(share_url)
    assert again.status == 410
    expect(viewer.get_by_role("heading", name="This photo is gone")).to_be_visible()
    assert stored_keys() == []


# --- the manage page and prevent download ---------------------------------------------------


def test_the_manage_page_counts_down_and_asks_before_deleting(open_context, site, make_share):
    created = make_share(views=3)
    page = open_context().new_page()
    dialogs = []
    page.goto(f"{site}/m/{created.manage_token}")
    countdown = page.locator("#countdown")
    expect(countdown).to_have_text(
        re.compile(r"^\(in 23 hours 59 minutes\)$|^\(in 1 day 0 hours\)$")
    )
    expect(page.locator("#status")).to_have_text("Live: the link works")

    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Delete now").click()
    expect(page.locator("#status")).to_have_text("Live: the link works")
    assert "cannot be undone" in dialogs[0]
    assert Share.objects.get().ended_at is None

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete now").click()
    expect(page.locator("#status")).to_have_text("Ended: deleted by the sender")
    expect(page.get_by_role("button", name="Delete now")).to_have_count(0)
    assert stored_keys() == []


def test_the_countdown_ticks_down_to_the_second(open_context, site, make_share):
    created = make_share(views=1, expires_in=3600)
    page = open_context().new_page()
    page.goto(f"{site}/m/{created.manage_token}")
    countdown = page.locator("#countdown")
    expect(countdown).to_have_text(
        re.compile(r"^\(in (59 minutes \d+ seconds|1 hour 0 minutes)\)$")
    )
    first = countdown.text_content()
    expect(countdown).not_to_have_text(first, timeout=5000)


def test_prevent_download_blocks_saving_the_photo_but_says_screenshots_still_work(
    open_context, site, make_share
):
    created = make_share(views=3, prevent_download=True)
    page = open_context(viewport=PHONE, has_touch=True).new_page()
    page.goto(f"{site}/s/{created.token}")
    expect(page.locator("#protected-note")).to_contain_text("Screenshots cannot be prevented.")
    page.get_by_role("button", name="View photo").click()
    photo = page.get_by_role("img", name="The shared photo")
    expect(photo).to_be_visible()
    blocked = page.evaluate(
        """() => {
          const img = document.getElementById("photo-img");
          const target = document.elementFromPoint(
            img.getBoundingClientRect().left + 10, img.getBoundingClientRect().top + 10);
          const fire = (type, Kind) => {
            const event = new Kind(type, {bubbles: true, cancelable: true});
            target.dispatchEvent(event);
            return event.defaultPrevented;
          };
          const style = getComputedStyle(img);
          return {
            contextmenu: fire("contextmenu", MouseEvent),
            dragstart: fire("dragstart", DragEvent),
            selectstart: fire("selectstart", Event),
            userSelect: style.userSelect,
            draggable: img.draggable,
            hitsThePhoto: target === img,
          };
        }"""
    )
    assert blocked == {
        "contextmenu": True,
        "dragstart": True,
        "selectstart": True,
        "userSelect": "none",
        "draggable": False,
        "hitsThePhoto": False,
    }
    # The blob URL is dropped once drawn: "open image in new tab" finds nothing.
    assert (
        page.evaluate(
            """src => new Promise(done => {
          const probe = new Image();
          probe.onload = () => done("still there");
          probe.onerror = () => done("gone");
          probe.src = src;
        })""",
            photo.get_attribute("src"),
        )
        == "gone"
    )
    expect(page.locator("#views-left")).to_have_text(
        "This link can be opened 2 more times. Each view uses one."
    )


def test_a_photo_without_prevent_download_keeps_the_usual_menu(open_context, site, make_share):
    created = make_share(views=1)
    page = open_context().new_page()
    page.goto(f"{site}/s/{created.token}")
    page.get_by_role("button", name="View photo").click()
    expect(page.get_by_role("img", name="The shared photo")).to_be_visible()
    prevented = page.evaluate(
        """() => {
          const event = new MouseEvent("contextmenu", {bubbles: true, cancelable: true});
          document.getElementById("photo-img").dispatchEvent(event);
          return event.defaultPrevented;
        }"""
    )
    assert prevented is False


# --- looks: phone and desktop, light and dark, 320 px, keyboard -----------------------------


@pytest.fixture(scope="session")
def screenshot_dir(request) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Printed past pytest's capture, so a plain `pytest -q` run says where they are.
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nScreenshots of the pages are saved in {SCREENSHOTS}")
    return SCREENSHOTS


def upload_through_the_page(page, path: Path, *, pin: str = "", views: str = "Once") -> str:
    page.locator("#id_photo").set_input_files(path)
    choose_option(page, views)
    if pin:
        page.get_by_label("PIN").fill(pin)
    page.get_by_role("button", name="Create link").click()
    expect(page.get_by_role("heading", name="Your link is ready")).to_be_visible()
    return page.locator("#share-url").input_value()


def snap(page, path: str) -> None:
    """A screenshot of the whole page. Chromium's full-page capture re-lays the page out
    as a mouse device (a phone's `pointer: coarse` styles vanish), so the viewport is made
    as tall as the page instead, for the moment of the shot."""
    viewport = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": viewport["width"], "height": max(height, viewport["height"])})
    page.screenshot(path=path)
    page.set_viewport_size(viewport)


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("device", ["phone", "desktop"])
def test_screenshots_of_the_upload_created_and_view_pages(
    open_context, site, tmp_path, screenshot_dir, device, scheme
):
    viewport = PHONE if device == "phone" else DESKTOP
    options = {"viewport": viewport, "color_scheme": scheme}
    if device == "phone":
        options.update(device_scale_factor=2, is_mobile=True, has_touch=True)
    page = open_context(**options).new_page()
    prefix = screenshot_dir / f"{device}-{scheme}"

    page.goto(site + "/")
    snap(page, f"{prefix}-1-upload.png")
    page.locator("#id_photo").set_input_files(photo_file(tmp_path))
    expect(page.locator("#preview img")).to_be_visible()
    snap(page, f"{prefix}-2-upload-chosen.png")
    share_url = upload_through_the_page(page, photo_file(tmp_path), pin="4821", views="3 times")
    snap(page, f"{prefix}-3-created.png")

    viewer = open_context(**options).new_page()
    viewer.goto(share_url)
    snap(viewer, f"{prefix}-4-open.png")
    viewer.get_by_label("PIN").fill("4821")
    viewer.get_by_role("button", name="View photo").click()
    expect(viewer.get_by_role("img", name="The shared photo")).to_be_visible()
    snap(viewer, f"{prefix}-5-view.png")

    manage_url = page.locator("#manage-url").input_value()
    page.goto(manage_url)
    expect(page.locator("#views-used")).to_have_text("1")
    snap(page, f"{prefix}-6-manage.png")
    page.goto(f"{site}/s/{'x' * 32}")
    snap(page, f"{prefix}-7-not-found.png")
    for name in ("1-upload", "3-created", "5-view"):
        assert Path(f"{prefix}-{name}.png").stat().st_size > 10_000


def test_every_page_fits_a_320_pixel_wide_phone(open_context, site, tmp_path, make_share):
    page = open_context(viewport={"width": 320, "height": 640}).new_page()

    def fits(what: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{what} is {width}px wide"

    page.goto(site + "/")
    fits("the upload page")
    long_name = "a-photo-with-a-rather-long-file-name-from-a-camera.jpg"
    page.locator("#id_photo").set_input_files(photo_file(tmp_path, name=long_name))
    expect(page.locator("#preview")).to_be_visible()
    fits("the upload page with a preview")
    # Removed again: this test shares one photo (test_browser_album.py fits the albums).
    page.get_by_role("button", name=f"Remove {long_name}").click()
    expect(page.locator("#preview")).to_be_hidden()
    share_url = upload_through_the_page(page, photo_file(tmp_path))
    fits("the created page")
    page.goto(page.locator("#manage-url").input_value())
    fits("the manage page")
    page.goto(share_url)
    fits("the open page")
    page.get_by_role("button", name="View photo").click()
    expect(page.get_by_role("img", name="The shared photo")).to_be_visible()
    fits("the photo")
    page.goto(share_url)
    fits("the gone page")
    page.goto(f"{site}/no/such/page")
    fits("the 404 page")


def test_the_keyboard_reaches_every_control_with_a_visible_focus(open_context, site):
    page = open_context().new_page()
    page.goto(site + "/")
    seen = []
    for _ in range(20):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => {
              const el = document.activeElement;
              if (el === document.body) return {name: "(page)", outline: true};
              // Hidden radios and the file input show their focus on the label next to them.
              const hidden = el.matches(".chip input, .dropzone input");
              const shown = hidden ? el.nextElementSibling : el;
              const style = getComputedStyle(shown);
              return {
                name: el.id || el.name || el.textContent.trim(),
                outline: style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2,
              };
            }"""
        )
        seen.append(focused["name"])
        assert focused["outline"], f"no visible focus on {focused['name']}"
    controls = {"id_photo", "views", "expires_in", "id_pin", "id_prevent_download", "upload-submit"}
    assert controls <= set(seen)


# --- accessibility: axe-core on every page ---------------------------------------------------


def axe_violations(page) -> list[str]:
    """Run axe-core (node_modules, from package.json) on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ["violations"]});
          return result.violations.flatMap(v => v.nodes.map(
            n => `${v.id} (${v.impact}): ${n.target.join(" ")}: ${n.failureSummary}`));
        }"""
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_violations_on_any_page(open_context, site, tmp_path, make_share, scheme):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (bash .ci/run does)")
    # Injecting axe is an inline script, which the CSP rightly refuses: only this check's
    # contexts bypass it. Everything else in this file runs under the real CSP.
    context = open_context(bypass_csp=True, color_scheme=scheme)
    page = context.new_page()
    found = {}

    def check(name: str) -> None:
        found[name] = axe_violations(page)

    page.goto(site + "/")
    check("upload")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.locator("#id_photo").set_input_files(notes)
    expect(page.get_by_role("alert")).to_be_visible()
    check("upload with an error")
    page.locator("#id_photo").set_input_files(photo_file(tmp_path))
    expect(page.locator("#preview img")).to_be_visible()
    check("upload with a preview")
    share_url = upload_through_the_page(page, photo_file(tmp_path), pin="4821", views="3 times")
    page.locator("#created button[data-copy]").focus()
    check("created")
    manage_url = page.locator("#manage-url").input_value()

    page.goto(share_url)
    check("open with a PIN")
    page.get_by_label("PIN").fill("0000")
    page.get_by_role("button", name="View photo").click()
    expect(page.locator("#view-error")).to_be_visible()
    check("wrong PIN")
    page.get_by_label("PIN").fill("4821")
    page.get_by_role("button", name="View photo").click()
    expect(page.get_by_role("img", name="The shared photo")).to_be_visible()
    check("viewed photo")

    page.goto(manage_url)
    check("manage")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete now").click()
    expect(page.locator("#status")).to_contain_text("Ended")
    check("manage after delete")
    page.goto(share_url)
    check("gone")
    page.goto(f"{site}/s/{'x' * 32}")
    check("unknown link")
    page.goto(f"{site}/no/such/page")
    check("404")

    last_view = make_share(views=1, prevent_download=True)
    page.goto(f"{site}/s/{last_view.token}")
    check("open, prevent download")
    page.get_by_role("button", name="View photo").click()
    expect(page.locator("#after-view")).to_be_visible()
    check("last view")

    page.goto(f"{site}/s/{make_share().token}/report")
    check("report")
    under_review = make_share()
    Share.objects.filter(pk=under_review.share.pk).update(suspended_at=timezone.now())
    page.goto(f"{site}/s/{under_review.token}")
    expect(page.get_by_role("heading", name="This photo is under review")).to_be_visible()
    check("under review")

    assert {name: problems for name, problems in found.items() if problems} == {}
    assert len(found) == 16


# --- other languages: Japanese, and Arabic right to left -------------------------------------


def upload_by_ids(page, path: Path, *, pin: str = "") -> str:
    """upload_through_the_page in any language: by the controls' ids, not their words."""
    page.locator("#id_photo").set_input_files(path)
    if pin:
        page.locator("#id_pin").fill(pin)
    page.locator("#upload-submit").click()
    expect(page.locator("#created")).to_be_visible()
    return page.locator("#share-url").input_value()


def test_accept_language_ja_shows_japanese_pages_and_script_texts(open_context, site, tmp_path):
    # The browser's language (Accept-Language: ja-JP) and its time zone, as a reader in Tokyo.
    page = open_context(locale="ja-JP", timezone_id="Asia/Tokyo").new_page()
    page.goto(site + "/")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    expect(page.get_by_role("heading", level=1)).to_have_text("消える写真を共有しましょう")
    page.locator("#id_photo").set_input_files(photo_file(tmp_path))
    # Written by upload.js from /jsi18n/ja.js.
    expect(page.locator("#photo-status")).to_contain_text("写真を選びました：holiday.jpg")
    upload_by_ids(page, photo_file(tmp_path))
    expect(page.get_by_role("heading", name="リンクができました")).to_be_visible()
    page.get_by_role("button", name="リンクをコピー", exact=True).click()
    expect(page.locator("#copy-status")).to_have_text(
        "共有リンクをコピーしました。メッセージに貼り付けて送ってください。"
    )
    # The expiry in Japanese, in Tokyo time, the zone named (not the page's UTC).
    expiry = page.locator("#created time[data-local-time]")
    expect(expiry).to_have_attribute("data-localised", "true")
    assert "UTC" not in expiry.text_content() and "JST" in expiry.text_content()
    assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日", expiry.text_content())

    page.goto(page.locator("#manage-url").input_value())
    expect(page.locator("#countdown")).to_have_text(
        re.compile(r"^（あと \d+ (日|時間) \d+ (時間|分)）$")
    )


def test_the_footer_picker_switches_to_arabic_right_to_left_within_320_pixels(
    open_context, site, tmp_path, make_share
):
    page = open_context(viewport={"width": 320, "height": 640}).new_page()

    def fits(what: str) -> None:
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 320, f"{what} is {width}px wide"

    page.goto(site + "/")
    expect(page.locator("html")).to_have_attribute("dir", "ltr")
    page.get_by_label("Language").select_option("ar")
    page.get_by_role("button", name="Change language").click()
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "ar")
    expect(page.get_by_role("heading", level=1)).to_have_text("شارك صورة تختفي")
    expect(page.get_by_label("اللغة")).to_have_value("ar")
    fits("the Arabic upload page")
    # Mirrored: the first chip ("once") is on the right, the next one to its left.
    chips = page.locator("fieldset").first.locator("label.chip")
    first, second = chips.nth(0).bounding_box(), chips.nth(1).bounding_box()
    assert first["y"] == second["y"] and first["x"] > second["x"]

    share_url = upload_by_ids(page, photo_file(tmp_path), pin="4821")
    expect(page.get_by_role("heading", name="رابطك جاهز")).to_be_visible()
    fits("the Arabic created page")
    # The copy row mirrors too: the link's field on the right, its button to its left.
    field = page.locator("#share-url").bounding_box()
    button = page.locator("#created button[data-copy]").bounding_box()
    assert button["y"] > field["y"] + field["height"] - 1 or button["x"] < field["x"]
    manage_url = page.locator("#manage-url").input_value()

    # The choice is remembered: a new page, no picker touched, is still Arabic.
    page.goto(share_url)
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_role("heading", level=1)).to_have_text("شارك أحدهم صورة معك")
    fits("the Arabic open page")
    page.locator("#id_pin").fill("0000")
    page.locator("#view-button").click()
    # view.js says the wrong PIN from the code and attempts_left, in Arabic.
    expect(page.locator("#view-error")).to_have_text("رمز PIN خاطئ. بقيت 4 محاولات قبل حذف الصورة.")
    fits("the Arabic wrong-PIN answer")
    page.goto(manage_url)
    fits("the Arabic manage page")
    page.goto(f"{site}/s/{'x' * 32}")
    fits("the Arabic not-found page")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("language", ["ar", "ja"])
def test_axe_finds_no_violations_in_arabic_and_japanese(
    open_context, site, tmp_path, make_share, scheme, language
):
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: run `npm ci` (bash .ci/run does)")
    context = open_context(bypass_csp=True, color_scheme=scheme, locale=language)
    page = context.new_page()
    found = {}

    def check(name: str) -> None:
        assert page.locator("html").get_attribute("lang") == language
        found[name] = axe_violations(page)

    page.goto(site + "/")
    check("upload")
    page.locator("#id_photo").set_input_files(photo_file(tmp_path))
    expect(page.locator("#preview img")).to_be_visible()
    check("upload with a preview")
    share_url = upload_by_ids(page, photo_file(tmp_path), pin="4821")
    check("created")
    manage_url = page.locator("#manage-url").input_value()
    page.goto(share_url)
    check("open with a PIN")
    page.locator("#id_pin").fill("0000")
    page.locator("#view-button").click()
    expect(page.locator("#view-error")).to_be_visible()
    check("wrong PIN")
    page.goto(manage_url)
    check("manage")
    page.goto(f"{site}/s/{make_share().token}/report")
    check("report")
    page.goto(f"{site}/no/such/page")
    check("404")
    assert {name: problems for name, problems in found.items() if problems} == {}


def test_the_picker_works_without_javascript_and_times_then_say_utc(open_context, site, make_share):
    page = open_context(java_script_enabled=False).new_page()
    created = make_share()
    page.goto(f"{site}/m/{created.manage_token}")
    page.get_by_label("Language").select_option("de")
    page.get_by_role("button", name="Change language").click()
    # Back on the same page, now in German; the expiry as written on the server, in UTC.
    expect(page).to_have_url(f"{site}/m/{created.manage_token}")
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr geteiltes Foto")
    expect(page.locator("time[data-local-time]")).to_have_text(
        re.compile(r"^\d+\. \w+ \d{4} \d\d:\d\d UTC$")
    )
