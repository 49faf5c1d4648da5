"""Pages in the viewer's language: Accept-Language or the picker's cookie chooses it, the
link never does; plurals follow each language's rules; JSON stays English."""

import json
import re
from html import unescape
from pathlib import Path

import polib
import pytest
import time_machine
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from shares import services
from shares.models import Share

from .helpers import jpeg_bytes
from .photos import camera_exif, jpeg_photo

LOCALE = Path(settings.BASE_DIR) / "locale"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]|\{\w*\}")


def german(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "de-DE,de;q=0.9,en;q=0.5"
    return client


def visible_text(response) -> str:
    """What a reader sees: the body's text and the attributes people read."""
    html = response.content.decode()
    attributes = " ".join(
        re.findall(r'(?:alt|aria-label|title|placeholder|data-copied)="([^"]*)"', html)
    )
    html = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", html, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", html)
    return re.sub(r"\s+", " ", unescape(text + " " + attributes))


def english_fragments(language: str = "de") -> list[str]:
    """Every English phrase of the catalogues (the parts between placeholders) that the
    translation does not itself contain: none of them may appear on a translated page."""
    fragments = set()
    for domain in ("django", "djangojs"):
        for entry in polib.pofile(str(LOCALE / language / "LC_MESSAGES" / f"{domain}.po")):
            translated = " ".join([entry.msgstr, *entry.msgstr_plural.values()])
            for source in (entry.msgid, entry.msgid_plural):
                for part in PLACEHOLDER.split(source or ""):
                    part = part.strip(" .,:;()“”")
                    # Names and numbers ("JPEG, PNG", "Seen", "PIN") are the same everywhere.
                    if len(re.findall(r"[A-Za-z]{3,}", part)) >= 2 and part not in translated:
                        fragments.add(part)
    return sorted(fragments, key=len, reverse=True)


def assert_german(response, *expected: str) -> None:
    text = visible_text(response)
    assert response["Content-Language"] == "de"
    assert '<html lang="de" dir="ltr">' in response.content.decode()
    for phrase in expected:
        assert phrase in text, phrase
    leftover = [fragment for fragment in english_fragments() if fragment in text]
    assert leftover == [], leftover


@pytest.fixture
def no_limits(settings):
    settings.SEEN_RATE_LIMITS = dict.fromkeys(settings.SEEN_RATE_LIMITS)


def test_every_page_reads_in_german_without_a_word_of_english(
    client, make_share, no_limits, django_capture_on_commit_callbacks
):
    german(client)
    assert_german(client.get("/"), "Ein Foto teilen, das verschwindet", "Sprache wechseln")

    photo = SimpleUploadedFile("urlaub.jpg", jpeg_photo(exif=camera_exif()), "image/jpeg")
    created = client.post("/", {"photo": photo, "views": "3", "pin": "4821"})
    assert created.status_code == 201
    assert_german(created, "Ihr Link ist fertig", "Aus dem Foto entfernt: Standort", "3-mal bis")
    share_url = re.search(r'id="share-url"[^>]*value="[^"]*(/s/[^"]+)"', created.content.decode())[
        1
    ]
    manage_url = re.search(
        r'id="manage-url"[^>]*value="[^"]*(/m/[^"]+)"', created.content.decode()
    )[1]

    assert_german(client.get(share_url), "Dieses Foto kann noch 3-mal angesehen werden")
    assert_german(client.post(share_url, {}), "Dieses Foto ist mit einer PIN geschützt")
    assert_german(client.post(share_url, {"pin": "12"}), "Die PIN besteht aus 4 bis 8 Ziffern.")
    assert_german(client.post(share_url, {"pin": "0000"}), "Falsche PIN. Noch 4 Versuche")
    assert_german(client.get(manage_url), "Ihre Freigabe verwalten", "Noch nicht angesehen.")
    assert_german(client.get(share_url + "/report"), "Dieses Foto melden", "Belästigung")
    assert_german(client.post(share_url + "/report", {}), "Wählen Sie einen Grund aus.")
    assert_german(
        client.post(share_url + "/report", {"reason": "other"}),
        "Danke, Ihre Meldung wurde gesendet",
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(manage_url)
    assert_german(client.get(manage_url), "Beendet: vom Absender gelöscht")
    assert_german(
        client.get(share_url), "Dieses Foto ist weg", "Der Absender hat dieses Foto gelöscht."
    )

    suspended = make_share()
    services.report_create(
        token=suspended.token, reason="illegal", details="", reporter_address="192.0.2.1"
    )
    services.report_create(
        token=suspended.token, reason="illegal", details="", reporter_address="192.0.2.2"
    )
    assert_german(client.get(f"/s/{suspended.token}"), "Dieses Foto wird geprüft")

    assert_german(client.get("/s/" + "x" * 32), "Unter diesem Link gibt es kein Foto.")
    assert_german(client.get("/m/" + "x" * 32), "Unter diesem Verwaltungslink")
    assert_german(client.get("/nirgendwo"), "Hier ist nichts")
    assert_german(client.put("/"), "Diese Adresse nimmt keine PUT-Anfragen an.")
    bad = SimpleUploadedFile("notiz.jpg", b"not a photo at all", "image/jpeg")
    assert_german(client.post("/", {"photo": bad}), "Diese Datei ist kein Foto")
    assert_german(client.post("/", {"views": "2"}), "Wählen Sie ein Foto zum Teilen aus.")


def test_the_refusals_before_a_view_and_the_500_page_read_in_german(client, settings, rf, db):
    german(client)
    settings.SEEN_MAX_UPLOAD_BYTES = 2048
    big = SimpleUploadedFile("gross.jpg", jpeg_bytes(size=(300, 300)) + b"\0" * 3000, "image/jpeg")
    too_large = client.post("/", {"photo": big})
    assert too_large.status_code == 413
    assert_german(too_large, "Das Foto ist zu groß")

    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "views": "1/h"}
    client.post("/s/" + "x" * 32)
    limited = client.post("/s/" + "x" * 32)
    assert limited.status_code == 429
    assert_german(limited, "Zu viele Aufrufe von Ihrer Adresse.", "Bitte warten Sie")

    from django.utils import translation

    from shares.responses import server_error

    with translation.override("de"):
        page = server_error(rf.get("/"))
    assert page.status_code == 500
    text = visible_text(page)
    assert "Etwas ist schiefgegangen" in text and "Von Ihrem Foto wurde niemandem" in text
    assert not [fragment for fragment in english_fragments() if fragment in text]


def test_the_scripts_show_no_text_outside_the_catalogue():
    """Every sentence in static/js goes through gettext (so it is in djangojs.po)."""
    msgids = set()
    for entry in polib.pofile(str(LOCALE / "en" / "LC_MESSAGES" / "djangojs.po")):
        msgids |= {entry.msgid, entry.msgid_plural}
    found = []
    for script in (Path(settings.BASE_DIR) / "static" / "js").glob("*.js"):
        code = re.sub(r"^\s*//.*$|/\*.*?\*/", "", script.read_text(), flags=re.M | re.S)
        for literal in re.findall(r'"((?:[^"\\]|\\.)*)"', code):
            words = re.findall(r"[A-Za-z]{2,}", literal)
            sentence = len(words) >= 3 or (
                len(words) >= 1 and literal.rstrip().endswith((".", "…"))
            )
            if sentence and literal not in msgids and literal != "use strict":
                found.append(f"{script.name}: {literal}")
    assert found == []


@pytest.mark.parametrize(
    ("language", "left", "expected"),
    [
        ("pl", 1, "To zdjęcie można wyświetlić jeszcze 1 raz. Potem zostanie usunięte."),
        ("pl", 2, "To zdjęcie można wyświetlić jeszcze 2 razy. Po ostatnim wyświetleniu"),
        ("pl", 5, "To zdjęcie można wyświetlić jeszcze 5 razy. Po ostatnim wyświetleniu"),
        ("ar", 1, "يمكن مشاهدة هذه الصورة مرة واحدة أخرى."),
        ("ar", 2, "يمكن مشاهدة هذه الصورة مرتين أخريين."),
        ("ar", 5, "يمكن مشاهدة هذه الصورة 5 مرات أخرى."),
        ("ar", 10, "يمكن مشاهدة هذه الصورة 10 مرات أخرى."),
    ],
)
def test_views_left_use_the_languages_plural_forms(client, make_share, language, left, expected):
    created = make_share(views=10)
    Share.objects.filter(pk=created.share.pk).update(views_used=10 - left)
    page = client.get(f"/s/{created.token}", HTTP_ACCEPT_LANGUAGE=language)
    assert expected in visible_text(page)


@pytest.mark.parametrize(
    ("language", "attempts", "expected"),
    [
        ("pl", 4, "Zostały 4 próby"),
        ("pl", 1, "Została 1 próba"),
        ("uk", 4, "Залишилося 4 спроби"),
        ("ar", 4, "بقيت 4 محاولات"),
        ("ar", 2, "بقيت محاولتان"),
        ("ar", 1, "بقيت محاولة واحدة"),
        ("ja", 4, "あと 4 回間違えると"),
    ],
)
def test_the_wrong_pin_page_counts_attempts_in_the_language(
    client, make_share, settings, language, attempts, expected
):
    settings.SEEN_MAX_PIN_FAILURES = attempts + 1
    created = make_share(pin="4821")
    page = client.post(f"/s/{created.token}", {"pin": "0000"}, HTTP_ACCEPT_LANGUAGE=language)
    assert page.status_code == 403
    assert expected in visible_text(page)


def test_the_picker_keeps_the_choice_in_a_cookie_and_returns_to_the_page(client, make_share):
    created = make_share()
    page = f"/s/{created.token}"
    # The share page sends no CSRF cookie and its form posts with "Origin: null".
    answer = client.post("/language", {"language": "ja", "next": page}, HTTP_ORIGIN="null")
    assert answer.status_code == 302
    assert answer["Location"] == page
    assert answer.cookies["django_language"].value == "ja"
    assert answer.cookies["django_language"]["httponly"]
    assert "no-store" in answer["Cache-Control"]
    # The cookie beats Accept-Language from then on.
    again = client.get(page, HTTP_ACCEPT_LANGUAGE="de")
    assert '<html lang="ja" dir="ltr">' in again.content.decode()
    assert "写真が共有されました" in visible_text(again)


def test_the_picker_refuses_another_sites_address_and_unknown_languages(client):
    answer = client.post("/language", {"language": "xx", "next": "https://evil.example/"})
    assert answer.status_code == 302
    assert answer["Location"] == "/"
    assert "django_language" not in answer.cookies
    assert client.get("/language").status_code == 405


def test_the_language_comes_from_the_reader_not_from_the_link(client, make_share):
    created = make_share()
    client.get("/", HTTP_ACCEPT_LANGUAGE="de")  # the sender's German page
    page = client.get(f"/s/{created.token}", HTTP_ACCEPT_LANGUAGE="tr-TR,tr;q=0.9")
    assert '<html lang="tr" dir="ltr">' in page.content.decode()
    assert "Sizinle bir fotoğraf paylaşıldı" in visible_text(page)
    assert "Accept-Language" in page["Vary"]
    arabic = client.get(f"/s/{created.token}", HTTP_ACCEPT_LANGUAGE="ar")
    assert '<html lang="ar" dir="rtl">' in arabic.content.decode()
    unknown = client.get(f"/s/{created.token}", HTTP_ACCEPT_LANGUAGE="sw")
    assert '<html lang="en" dir="ltr">' in unknown.content.decode()


def test_the_script_catalogue_is_a_script_of_its_own_for_each_language(client):
    german_js = client.get("/jsi18n/de.js")
    assert german_js.status_code == 200
    assert german_js["Content-Type"].startswith("text/javascript")
    # The catalogue is JSON inside the script: non-ASCII letters are \u escapes.
    assert json.dumps("Wird hochgeladen…") in german_js.content.decode()
    assert "public" in german_js["Cache-Control"]
    arabic = client.get("/jsi18n/ar.js", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "n==0 ? 0 : n==1 ? 1 : n==2 ? 2" in arabic and json.dumps("جارٍ الرفع…") in arabic
    assert client.get("/jsi18n/xx.js").status_code == 404
    page = client.get("/", HTTP_ACCEPT_LANGUAGE="ja").content.decode()
    assert '<script src="/jsi18n/ja.js" defer></script>' in page


def test_json_errors_stay_english_whatever_the_reader_asks(client, make_share):
    created = make_share(pin="4821")
    answer = client.post(
        f"/s/{created.token}",
        {"pin": "0000"},
        HTTP_ACCEPT="application/json",
        HTTP_ACCEPT_LANGUAGE="de",
    )
    assert answer.json() == {
        "error": "Wrong PIN. 4 attempts left before the photo is deleted.",
        "code": "pin_wrong",
        "attempts_left": 4,
    }
    api = client.post("/api/shares", {}, HTTP_ACCEPT_LANGUAGE="ja")
    assert api.json() == {"error": "Choose a photo to share.", "code": "invalid_photo"}


def test_times_are_written_in_utc_in_the_pages_language_and_named(client, make_share):
    with time_machine.travel(timezone.datetime(2026, 3, 5, 9, 7, tzinfo=timezone.UTC), tick=False):
        created = make_share(expires_in=86400)
        page = client.get(f"/m/{created.manage_token}", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert (
        '<time datetime="2026-03-06T09:07:00Z" data-local-time="minutes">'
        "6. März 2026 09:07 UTC</time>" in page
    )
    assert "(noch 1\xa0Tag)" in page
    french = client.get(f"/m/{created.manage_token}", HTTP_ACCEPT_LANGUAGE="fr").content.decode()
    assert "6 mars 2026 09:07 UTC</time>" in french


def test_the_moderation_desk_speaks_the_moderators_language(moderator_client, make_share):
    created = make_share()
    services.report_create(
        token=created.token, reason="harassment", details="", reporter_address="192.0.2.1"
    )
    desk = moderator_client.get("/admin/shares/share/", HTTP_ACCEPT_LANGUAGE="de")
    text = visible_text(desk)
    # The desk's own words from Seen's catalogue, the admin's from Django's.
    assert "Seen-Moderation" in text and "Meldungen (offen / alle)" in text
    assert "hat offene Meldungen" in text and "Abmelden" in text
    assert "Entfernen: Freigabe beenden" in desk.content.decode()
    preview = moderator_client.get(
        f"/admin/shares/share/{created.share.pk}/preview/", HTTP_ACCEPT_LANGUAGE="pl"
    )
    assert "Podgląd udostępnienia" in visible_text(preview)
    assert "Pokaż zdjęcie" in preview.content.decode()
