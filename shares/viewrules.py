"""What may spend a view, and what never does (README, "What counts as a view").

A view is spent by a person pressing the button: a POST to the share link. Browsers that
prefetch or prerender a page, and the bots of chat apps and social sites that fetch a link
to draw its preview, must never spend one, even when they send a POST; nor may any layer
answer a part of a photo (206) for a request that spends its view whole.

`spends_nothing_for_previews` puts these rules on a view. Each rule is tested in
shares/tests/test_view_rules.py.
"""

import functools
import re
from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from .responses import error_response

# The headers with which browsers mark a request that no person asked for: Sec-Purpose
# (the Fetch standard: "prefetch", "prefetch;prerender", "prefetch; anonymous-client-ip"),
# Purpose (older Chrome and Safari), X-Purpose (Safari's Top Sites previews, old Chrome),
# X-Moz (Firefox's link prefetching). A value is matched as words, case-insensitively.
PURPOSE_HEADERS = ("Sec-Purpose", "Purpose", "X-Purpose", "X-Moz")
PURPOSE_WORDS = frozenset({"prefetch", "prerender", "preview"})

# The link-preview ("unfurl") fetchers of chat apps and social sites, and the search
# engines' crawlers, by the name each puts in its User-Agent. An entry matches when its
# words appear in a row among the User-Agent's words (letters and digits, compared in
# lower case), so "Slackbot" matches "Slackbot-LinkExpanding 1.0" but "Line" would also
# match a person's "Line/14.2" in-app browser: where an app's own browser names the app,
# only the name of its preview fetcher is listed (LINE's "line-poker", Snapchat's
# "snapchat_proxy", Pinterest's bot address), so people who open a link inside those
# apps can still view it.
LINK_PREVIEW_AGENTS = (
    # chat apps
    "Slackbot",  # Slackbot-LinkExpanding, Slackbot 1.0
    "Slack-ImgProxy",
    "WhatsApp",  # also Signal's link previews, which identify as WhatsApp/2
    "TelegramBot",
    "Discordbot",
    "SkypeUriPreview",  # Skype and Microsoft Teams
    "MicrosoftPreview",  # Outlook and Teams
    "Viber",
    "line-poker",  # LINE's preview fetcher (not "Line/…", its in-app browser)
    "Keybase",
    "Mattermost-Bot",
    "Synapse",  # Matrix servers' URL previews
    "Iframely",
    "Embedly",
    # social sites
    "facebookexternalhit",
    "Facebot",
    "Twitterbot",
    "LinkedInBot",
    "redditbot",
    "Mastodon",  # every Mastodon server fetches the links its posts hold
    "Pleroma",
    "Akkoma",
    "Misskey",
    "Pinterestbot",
    "pinterest.com/bot.html",  # Pinterest/0.2 (+http://www.pinterest.com/bot.html)
    "vkShare",
    "snapchat_proxy",  # Snap URL Preview Service (not "Snapchat/…", its in-app browser)
    "Snap URL Preview Service",
    "Bluesky Cardyb",
    # search engines and link checkers
    "Googlebot",
    "Google-PageRenderer",
    "bingbot",
    "BingPreview",
    "Applebot",
    "DuckDuckBot",
    "YandexBot",
    "Baiduspider",
)

_WORD = re.compile(r"[a-z0-9]+")


def _words(text: str) -> tuple[str, ...]:
    return tuple(_WORD.findall(text.lower()))


_AGENT_WORDS = tuple(_words(agent) for agent in LINK_PREVIEW_AGENTS)


def _holds_in_a_row(words: tuple[str, ...], wanted: tuple[str, ...]) -> bool:
    width = len(wanted)
    return any(words[start : start + width] == wanted for start in range(len(words) - width + 1))


def is_prefetch(request: HttpRequest) -> bool:
    """The browser says no person asked for this request (a prefetch or a prerender)."""
    return any(
        PURPOSE_WORDS.intersection(_words(request.headers.get(name, "")))
        for name in PURPOSE_HEADERS
    )


def link_preview_agent(user_agent: str) -> str | None:
    """The entry of LINK_PREVIEW_AGENTS that this User-Agent matches, if any."""
    words = _words(user_agent)
    for agent, wanted in zip(LINK_PREVIEW_AGENTS, _AGENT_WORDS, strict=True):
        if _holds_in_a_row(words, wanted):
            return agent
    return None


def prefetch_refused(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        400,
        gettext(
            "This request was marked as a prefetch or a preview, so nothing was shown and "
            "no view was used. Open the link yourself to view it."
        ),
        code="prefetch_refused",
    )


def link_preview_refused(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        403,
        gettext(
            "Link previews cannot open this link, so nothing was shown and no view was "
            "used. Open the link in a browser to view it."
        ),
        code="link_preview",
    )


# Ranges of a request, which would let a layer answer part of what it spends whole.
_RANGE_HEADERS = ("HTTP_RANGE", "HTTP_IF_RANGE")


def spends_nothing_for_previews(
    view: Callable | None = None, *, spending: Iterable[str] = ("POST",)
) -> Callable:
    """Keep a view's `spending` methods (those that spend a view or a one-time fetch) for
    people: a request of those methods marked as a prefetch is refused with 400
    (prefetch_refused), one from a link-preview bot with 403 (link_preview), before
    anything is looked up, counted or spent. Other methods (the share page's GET) are
    answered as usual.

    Range and If-Range are removed from every request, so nothing below can answer a part
    (206) of what a view spends whole; the answer never offers ranges (Accept-Ranges).

    `@spends_nothing_for_previews` guards POST; the one-time photo address, which a GET
    spends, takes `@spends_nothing_for_previews(spending=("GET", "HEAD"))`."""
    if view is None:
        return functools.partial(spends_nothing_for_previews, spending=spending)
    spending_methods = frozenset(method.upper() for method in spending)

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method in spending_methods:
            if is_prefetch(request):
                return prefetch_refused(request)
            if link_preview_agent(request.headers.get("User-Agent", "")):
                return link_preview_refused(request)
        for name in _RANGE_HEADERS:
            request.META.pop(name, None)
        response = view(request, *args, **kwargs)
        if "Accept-Ranges" in response:
            del response["Accept-Ranges"]
        return response

    return guarded
