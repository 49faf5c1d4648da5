"""What counts as a view (README, that section; shares/viewrules.py), rule by rule, over
real HTTP: only a POST to the link, with its PIN, spends one; GET, HEAD and OPTIONS never
do, nor requests marked as a prefetch or a preview, nor link-preview bots; and a POST
that asks for a Range gets the whole photo, through gunicorn and nginx as deployed too.

After every request that must spend nothing, the share's views_used is still what it was
and its photo is still stored."""

import re
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.test import Client

from shares.models import Share
from shares.viewrules import LINK_PREVIEW_AGENTS, PURPOSE_HEADERS, link_preview_agent

from . import deployed
from .deployed import gunicorn, nginx
from .helpers import jpeg_bytes, stored_keys
from .test_openapi import check_answer

# The tests over HTTP serve the test database from another thread (live_server) or process
# (gunicorn), so they commit; the others roll back, and the pure ones use no database.
LIVE = pytest.mark.django_db(transaction=True)

JSON, HTML = "application/json", "text/html"
CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)


def views_used() -> int:
    return Share.objects.get().views_used


def assert_nothing_spent(before: int = 0) -> None:
    assert views_used() == before
    assert stored_keys() != []


def call(live_server, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, live_server.url + path, timeout=20, **kwargs)


# --- 1. only a POST, with the PIN when there is one, spends a view --------------------------


@LIVE
def test_get_head_and_options_spend_nothing_and_a_post_spends_one(live_server, make_share):
    created = make_share(views=3)
    path = f"/s/{created.token}"

    page = call(live_server, "GET", path)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith(HTML)
    assert_nothing_spent()

    # The link takes GET and POST only: HEAD and OPTIONS are answered 405, with Allow and
    # the reason in words, before anything about the share is looked at.
    for method in ("HEAD", "OPTIONS"):
        answer = call(live_server, method, path)
        assert answer.status_code == 405, method
        assert answer.headers["Allow"] == "GET, POST"
        assert "image/" not in answer.headers["Content-Type"]
        assert_nothing_spent()
    refused = call(live_server, "OPTIONS", path, headers={"Accept": JSON})
    assert refused.json()["code"] == "method_not_allowed"
    assert_nothing_spent()

    viewed = call(live_server, "POST", path)
    assert viewed.status_code == 200 and viewed.content[:2] == b"\xff\xd8"
    assert viewed.headers["Seen-Views-Remaining"] == "2"
    assert views_used() == 1


@LIVE
def test_with_a_pin_only_the_post_that_carries_it_spends_a_view(live_server, make_share):
    created = make_share(views=3, pin="2468")
    path = f"/s/{created.token}"

    for data in ({}, {"pin": ""}, {"pin": "12"}):
        answer = call(live_server, "POST", path, data=data, headers={"Accept": JSON})
        assert answer.status_code == 400, data
        assert answer.json()["code"] in ("pin_required", "pin_invalid")
        assert_nothing_spent()
    # The PIN in the address is no PIN: a GET with it still only shows the page.
    assert call(live_server, "GET", f"{path}?pin=2468").status_code == 200
    assert_nothing_spent()
    wrong = call(live_server, "POST", path, data={"pin": "1111"}, headers={"Accept": JSON})
    assert wrong.status_code == 403 and wrong.json()["code"] == "pin_wrong"
    assert_nothing_spent()

    right = call(live_server, "POST", path, data={"pin": "2468"})
    assert right.status_code == 200 and right.content[:2] == b"\xff\xd8"
    assert views_used() == 1


# --- 2. prefetch and prerender never spend -------------------------------------------------

MARKED = [
    ("Sec-Purpose", "prefetch"),
    ("Sec-Purpose", "prefetch;prerender"),
    ("Sec-Purpose", "prefetch; anonymous-client-ip"),
    ("Sec-Purpose", "prerender"),
    ("Sec-Purpose", "PREFETCH"),
    ("Purpose", "prefetch"),
    ("Purpose", "preview"),
    ("X-Purpose", "preview"),
    ("X-Purpose", "prefetch"),
    ("X-Moz", "prefetch"),
]


def test_every_purpose_header_has_a_case():
    assert {name for name, _value in MARKED} == set(PURPOSE_HEADERS)


@LIVE
def test_a_post_marked_as_a_prefetch_is_refused_and_spends_nothing(live_server, make_share):
    created = make_share(views=1)
    path = f"/s/{created.token}"

    for header, value in MARKED:
        refused = call(live_server, "POST", path, headers={header: value, "Accept": JSON})
        assert refused.status_code == 400, (header, value)
        assert refused.json()["code"] == "prefetch_refused"
        assert "no view was used" in refused.json()["error"]
        assert "image/" not in refused.headers["Content-Type"]
        assert "no-store" in refused.headers["Cache-Control"]
        check_answer(refused, "/s/{token}", "post", "400", JSON)
        assert_nothing_spent()

        # A GET so marked (what browsers really prefetch) gets the page as usual.
        page = call(live_server, "GET", path, headers={header: value})
        assert page.status_code == 200, (header, value)
        assert "View photo" in page.text
        assert_nothing_spent()

    # The one view is still there for the person who presses the button.
    assert call(live_server, "POST", path).status_code == 200
    assert views_used() == 1


@LIVE
def test_a_browser_is_told_in_plain_words_in_its_language(live_server, make_share):
    created = make_share(views=1)
    path = f"/s/{created.token}"
    page = call(live_server, "POST", path, headers={"Sec-Purpose": "prefetch", "Accept": HTML})
    assert page.status_code == 400 and page.headers["Content-Type"].startswith(HTML)
    assert "marked as a prefetch or a preview, so nothing was shown" in page.text
    check_answer(page, "/s/{token}", "post", "400", HTML)
    german = call(
        live_server,
        "POST",
        path,
        headers={"Sec-Purpose": "prefetch", "Accept": HTML, "Accept-Language": "de"},
    )
    assert german.status_code == 400
    assert "kein Aufruf verbraucht" in german.text
    assert_nothing_spent()


@LIVE
def test_a_prefetch_with_a_wrong_pin_is_not_counted_as_an_attempt(live_server, make_share):
    created = make_share(views=1, pin="2468")
    answer = call(
        live_server,
        "POST",
        f"/s/{created.token}",
        data={"pin": "1111"},
        headers={"Sec-Purpose": "prefetch", "Accept": JSON},
    )
    assert answer.status_code == 400 and answer.json()["code"] == "prefetch_refused"
    assert Share.objects.get().pin_failures == 0
    assert_nothing_spent()


@LIVE
def test_an_ordinary_browser_post_is_not_taken_for_a_prefetch(live_server, make_share):
    created = make_share(views=1)
    headers = {
        "User-Agent": CHROME,
        "Sec-Fetch-Dest": "document",
        "Sec-Fetch-Mode": "navigate",
        "Sec-Fetch-User": "?1",
        "Purpose": "",
    }
    assert call(live_server, "POST", f"/s/{created.token}", headers=headers).status_code == 200
    assert views_used() == 1


# --- 3. link-preview bots never spend -----------------------------------------------------

# A User-Agent that each entry of LINK_PREVIEW_AGENTS is there for, as the bot sends it.
BOT_AGENTS = {
    "Slackbot": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Slack-ImgProxy": "Slack-ImgProxy (+https://api.slack.com/robots)",
    "WhatsApp": "WhatsApp/2.23.20.0 A",
    "TelegramBot": "TelegramBot (like TwitterBot)",
    "Discordbot": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "SkypeUriPreview": (
        "Mozilla/5.0 (Windows NT 6.1; WOW64) SkypeUriPreview Preview/0.5 "
        "skype-url-preview@microsoft.com"
    ),
    "MicrosoftPreview": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/103.0.5060.134 Safari/537.36 Edg/103.0.1264.77 "
        "(compatible; MicrosoftPreview/2.0; +https://aka.ms/MicrosoftPreview)"
    ),
    "Viber": "Mozilla/5.0 (Linux; Android 12) Viber/21.4.0.5",
    "line-poker": "facebookexternalhit/1.1;line-poker/1.0",
    "Keybase": "Mozilla/5.0 (compatible; Keybase/1.0; +https://keybase.io)",
    "Mattermost-Bot": "mattermost-bot/1.1 (+https://mattermost.com)",
    "Synapse": "Synapse (bot; +https://github.com/matrix-org/synapse)",
    "Iframely": "Iframely/1.3.1 (+https://iframely.com/docs/about)",
    "Embedly": ("Mozilla/5.0 (compatible; Embedly/0.2; +http://support.embed.ly/)"),
    "facebookexternalhit": (
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)"
    ),
    "Facebot": "Facebot",
    "Twitterbot": "Twitterbot/1.0",
    "LinkedInBot": (
        "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)"
    ),
    "redditbot": "Mozilla/5.0 (compatible; redditbot/1.0; +http://www.reddit.com/feedback)",
    "Mastodon": "http.rb/5.1.1 (Mastodon/4.2.0; +https://mastodon.social/)",
    "Pleroma": "Pleroma 2.6.0; https://pleroma.example <admin@pleroma.example>",
    "Akkoma": "Akkoma 3.10.0; https://akkoma.example <admin@akkoma.example>",
    "Misskey": "Misskey/2024.3.1 (https://misskey.example)",
    "Pinterestbot": (
        "Mozilla/5.0 (compatible; Pinterestbot/1.0; +http://www.pinterest.com/bot.html)"
    ),
    "pinterest.com/bot.html": "Pinterest/0.2 (+http://www.pinterest.com/bot.html)",
    "vkShare": "Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)",
    "snapchat_proxy": "Mozilla/5.0 (compatible; Snap URL Preview Service; bot; snapchat_proxy)",
    "Snap URL Preview Service": "Mozilla/5.0 (compatible; Snap URL Preview Service; bot)",
    "Bluesky Cardyb": "Mozilla/5.0 (compatible; Bluesky Cardyb/1.1; +mailto:support@bsky.app)",
    "Googlebot": ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"),
    "Google-PageRenderer": (
        "Mozilla/5.0 (Linux; Android 6.0.1) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/41.0.2272.118 Safari/537.36 (compatible; Google-PageRenderer)"
    ),
    "bingbot": "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "BingPreview": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "BingPreview/1.0b"
    ),
    "Applebot": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like "
        "Gecko) Version/13.1.1 Safari/605.1.15 (Applebot/0.1; +http://www.apple.com/go/applebot)"
    ),
    "DuckDuckBot": "DuckDuckBot/1.1; (+http://duckduckgo.com/duckduckbot.html)",
    "YandexBot": "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Baiduspider": (
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)"
    ),
}

# People's browsers, the in-app browsers of those apps among them: none is a bot.
PEOPLE = [
    CHROME,
    "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    # LINE's, Snapchat's, Pinterest's, Facebook's and Instagram's in-app browsers
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 Safari Line/14.9.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 Snapchat/13.2.0.40 (like Safari/8618.2.12.10.4)",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/15E148 [Pinterest/iOS]",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Mobile/21F79 [FBAN/FBIOS;FBAV/470.0.0.37.108;FBBV/600000000;FBDV/iPhone14,5]",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Version/4.0 Chrome/131.0.6778.81 Mobile Safari/537.36 Instagram 358.0.0.51.97 Android",
    "curl/8.11.0",
    "python-requests/2.32.3",
    "",
]


def test_every_listed_bot_has_a_real_user_agent_here_and_it_matches():
    assert set(BOT_AGENTS) == set(LINK_PREVIEW_AGENTS)
    for agent, user_agent in BOT_AGENTS.items():
        assert link_preview_agent(user_agent) is not None, agent
        assert link_preview_agent(user_agent.upper()) is not None, agent  # case-insensitive


@pytest.mark.parametrize("user_agent", PEOPLE)
def test_people_and_scripts_are_not_taken_for_bots(user_agent):
    assert link_preview_agent(user_agent) is None


def test_names_are_matched_as_words_not_inside_other_words():
    assert link_preview_agent("Mozilla/5.0 NotTwitterbotReally/1.0") is None
    assert link_preview_agent("Mozilla/5.0 (compatible; MyVibernate/1.0)") is None
    assert link_preview_agent("Mozilla/5.0 Snap URL Preview") is None  # the whole name
    assert link_preview_agent("Mozilla/5.0 (compatible; twitterbot/1.0)") == "Twitterbot"


@pytest.mark.django_db
def test_a_post_from_any_listed_bot_is_refused_and_spends_nothing(client, make_share):
    created = make_share(views=1)
    path = f"/s/{created.token}"
    for agent, user_agent in BOT_AGENTS.items():
        refused = client.post(path, headers={"User-Agent": user_agent, "Accept": JSON})
        assert refused.status_code == 403, agent
        assert refused.json()["code"] == "link_preview"
        assert_nothing_spent()
    assert client.post(path, headers={"User-Agent": CHROME}).status_code == 200
    assert views_used() == 1


@LIVE
def test_a_bot_is_refused_over_http_and_gets_a_page_that_holds_no_photo(live_server, make_share):
    photo = jpeg_bytes(size=(120, 90))
    created = make_share(views=1, photo=photo, pin="")
    path = f"/s/{created.token}"
    bot = {"User-Agent": BOT_AGENTS["facebookexternalhit"]}

    refused = call(live_server, "POST", path, headers={**bot, "Accept": JSON})
    assert refused.status_code == 403 and refused.json()["code"] == "link_preview"
    check_answer(refused, "/s/{token}", "post", "403", JSON)
    page_refusal = call(live_server, "POST", path, headers={**bot, "Accept": HTML})
    assert page_refusal.status_code == 403
    assert "Link previews cannot open this link" in page_refusal.text
    check_answer(page_refusal, "/s/{token}", "post", "403", HTML)
    assert_nothing_spent()

    # The page a bot may read: what a person sees before pressing the button, and no
    # more. No photo bytes, no picture for a preview card, nothing that leads to one.
    page = call(live_server, "GET", path, headers=bot)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith(HTML)
    assert page.content == call(live_server, "GET", path, headers={"User-Agent": CHROME}).content
    assert b"\xff\xd8\xff" not in page.content
    assert "data:image" not in page.text and "og:image" not in page.text
    assert not re.search(r'<img[^>]+src="', page.text)
    assert_nothing_spent()

    assert call(live_server, "POST", path, headers={"User-Agent": CHROME}).status_code == 200
    assert views_used() == 1


# --- 4. a Range never gets part of a photo ------------------------------------------------

RANGES = [
    {"Range": "bytes=0-99"},
    {"Range": "bytes=-10"},
    {"Range": "bytes=0-0,5-9"},
    {"Range": "bytes=100-"},
    {"Range": "bytes=0-99", "If-Range": '"anything"'},
    {"Range": "bytes=0-99", "If-Range": "Wed, 21 Oct 2015 07:28:00 GMT"},
]


def assert_whole(answer: requests.Response, whole: bytes) -> None:
    assert answer.status_code == 200
    assert answer.content == whole
    assert int(answer.headers["Content-Length"]) == len(whole)
    assert "Content-Range" not in answer.headers
    assert "Accept-Ranges" not in answer.headers


@LIVE
def test_a_post_with_a_range_gets_the_whole_photo(live_server, make_share):
    created = make_share(views=0)
    path = f"/s/{created.token}"
    whole = call(live_server, "POST", path)
    assert whole.status_code == 200 and "Accept-Ranges" not in whole.headers
    for spent, headers in enumerate(RANGES, start=2):
        assert_whole(call(live_server, "POST", path, headers=headers), whole.content)
        assert views_used() == spent  # one view for one whole photo


@LIVE
def test_a_get_with_a_range_gets_the_page_and_spends_nothing(live_server, make_share):
    created = make_share(views=1)
    page = call(live_server, "GET", f"/s/{created.token}", headers={"Range": "bytes=0-9"})
    assert page.status_code == 200 and "Content-Range" not in page.headers
    assert_nothing_spent()


@pytest.mark.django_db
def test_the_share_view_never_sees_a_range(make_share, monkeypatch):
    """Whatever a later layer does with Range (Django's FileResponse may learn it), the
    view is called without it."""
    from shares import views

    seen = {}
    original = views._share_view

    def spy(request, token):
        seen.update({name: request.META.get(name) for name in ("HTTP_RANGE", "HTTP_IF_RANGE")})
        return original(request, token)

    monkeypatch.setattr(views, "_share_view", spy)
    created = make_share(views=1)
    answer = Client().post(f"/s/{created.token}", HTTP_RANGE="bytes=0-9", HTTP_IF_RANGE='"x"')
    assert answer.status_code == 200
    assert seen == {"HTTP_RANGE": None, "HTTP_IF_RANGE": None}


def test_the_decorator_guards_the_methods_it_is_told_spend(rf):
    """As the one-time photo addresses will use it: there a GET spends a fetch."""
    from django.http import HttpResponse

    from shares.viewrules import spends_nothing_for_previews

    calls = []

    def photo(request):
        calls.append({name: request.META.get(name) for name in ("HTTP_RANGE", "HTTP_IF_RANGE")})
        response = HttpResponse(b"whole", content_type="image/jpeg")
        response["Accept-Ranges"] = "bytes"
        return response

    guarded = spends_nothing_for_previews(spending=("GET", "HEAD"))(photo)
    bot = BOT_AGENTS["Discordbot"]
    for method in ("get", "head"):
        assert (
            guarded(getattr(rf, method)("/v/x/1", HTTP_SEC_PURPOSE="prefetch")).status_code == 400
        )
        assert guarded(getattr(rf, method)("/v/x/1", HTTP_USER_AGENT=bot)).status_code == 403
    assert calls == []
    answer = guarded(rf.get("/v/x/1", HTTP_RANGE="bytes=0-1", HTTP_IF_RANGE='"x"'))
    assert answer.status_code == 200 and answer.content == b"whole"
    assert "Accept-Ranges" not in answer
    assert calls == [{"HTTP_RANGE": None, "HTTP_IF_RANGE": None}]
    # A method it was not told spends (here POST) is let through, bot or not.
    assert guarded(rf.post("/v/x/1", HTTP_USER_AGENT=bot)).status_code == 200
    # Bare, it guards POST only: the share page's GET is for everyone.
    bare = spends_nothing_for_previews(photo)
    assert bare(rf.get("/s/x", HTTP_USER_AGENT=bot)).status_code == 200
    assert bare(rf.post("/s/x", HTTP_USER_AGENT=bot)).status_code == 403


def nginx_variant(tmp_path: Path, monkeypatch, name: str, change) -> None:
    """deployed.nginx() runs deploy/nginx.conf.template changed by `change` from now on."""
    variant = tmp_path / f"{name}.conf.template"
    variant.write_text(change(deployed.NGINX_TEMPLATE.read_text()))
    monkeypatch.setattr(deployed, "NGINX_TEMPLATE", variant)


def force_ranges(text: str) -> str:
    # What an operator might add: nginx then cuts proxied answers itself.
    changed = text.replace(
        "    proxy_buffering on;\n", "    proxy_buffering on;\n    proxy_force_ranges on;\n"
    )
    assert changed != text
    return changed


@LIVE
def test_gunicorn_and_nginx_as_deployed_answer_a_ranged_post_whole(
    nginx_installed, tmp_path, monkeypatch
):
    shipped = deployed.NGINX_TEMPLATE
    assert re.search(r"^    max_ranges 0;$", shipped.read_text(), re.M)
    (tmp_path / "app").mkdir()
    with gunicorn(tmp_path / "app", SEEN_RATE_LIMIT_VIEWS="off") as app:
        created = requests.post(
            f"{app.url}/api/shares",
            files={"photo": ("a.jpg", jpeg_bytes(size=(300, 200)), "image/jpeg")},
            data={"views": "0"},
            timeout=30,
        )
        assert created.status_code == 201, created.text
        path = "/s/" + created.json()["url"].rsplit("/", 1)[1]
        whole = requests.post(f"{app.url}{path}", timeout=10).content
        spent = 1

        fronts = {}
        with nginx(tmp_path / "shipped", upstream_port=app.port) as front:
            fronts["shipped"] = front.url
            for headers in RANGES:
                assert_whole(requests.post(front.url + path, headers=headers, timeout=10), whole)
                assert_whole(requests.post(app.url + path, headers=headers, timeout=10), whole)
                spent += 2
            # The marks and the bots arrive through nginx as sent, and are refused there too.
            for headers in ({"Sec-Purpose": "prefetch"}, {"User-Agent": BOT_AGENTS["Slackbot"]}):
                refused = requests.post(
                    front.url + path, headers={**headers, "Accept": JSON}, timeout=10
                )
                assert refused.json()["code"] in ("prefetch_refused", "link_preview")
            assert views_used() == spent

        nginx_variant(tmp_path, monkeypatch, "forced", force_ranges)
        with nginx(tmp_path / "forced", upstream_port=app.port) as front:
            for headers in RANGES:
                assert_whole(requests.post(front.url + path, headers=headers, timeout=10), whole)
                spent += 1
            assert_whole(requests.post(front.url + path, timeout=10), whole)
            spent += 1

        # The control: without max_ranges 0, that nginx answers a ranged POST with a part,
        # so the line above is what keeps a view whole behind such a front.
        monkeypatch.setattr(deployed, "NGINX_TEMPLATE", shipped)
        nginx_variant(
            tmp_path,
            monkeypatch,
            "unguarded",
            lambda text: force_ranges(text).replace("    max_ranges 0;\n", ""),
        )
        with nginx(tmp_path / "unguarded", upstream_port=app.port) as front:
            part = requests.post(front.url + path, headers={"Range": "bytes=0-99"}, timeout=10)
            spent += 1
            assert part.status_code == 206 and len(part.content) == 100
        assert views_used() == spent
    assert stored_keys_in(tmp_path / "app") != []


def stored_keys_in(data_dir: Path) -> list[Path]:
    return [path for path in data_dir.rglob("*") if path.is_file() and "photos" in path.parts]


# --- 5. README says all of it -------------------------------------------------------------


def readme_section() -> str:
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    return re.split(r"\n#{2,3} ", readme.split("\n### What counts as a view\n", 1)[1])[0]


def test_readme_names_every_rule_header_and_bot():
    section = readme_section()
    for header in PURPOSE_HEADERS:
        assert f"`{header}" in section, header
    for agent in LINK_PREVIEW_AGENTS:
        assert f"`{agent}`" in section, agent
    for words in ("GET", "HEAD", "OPTIONS", "Range", "prefetch_refused", "link_preview"):
        assert words in section, words
