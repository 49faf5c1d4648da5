"""Small template helpers for the pages: the QR code of a link, the upload limits, a
countdown, times."""

from datetime import UTC, datetime

import segno
from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext, gettext_lazy

from shares import images

register = template.Library()


@register.filter
def qr_svg(url: str) -> SafeString:
    """The link as an inline SVG QR code, made here so the page needs no script to show it.

    Dark on light whatever the page theme: phone cameras read that best. Four modules of
    quiet zone, as the QR standard asks. The SVG holds only paths (no script, no style
    attribute), so the Content-Security-Policy lets it through as ordinary markup.
    """
    code = segno.make(url, error="m", micro=False)
    svg = code.svg_inline(
        scale=1,
        border=4,
        dark="#000",
        light="#fff",
        omitsize=True,
        svgclass="qr-code",
        lineclass=None,
    )
    # role and label belong on the <svg> itself so screen readers name the picture.
    label = escape(gettext("QR code of the share link"))
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)
    return mark_safe(svg)  # noqa: S308 - segno's own markup from a URL we built


def _size_words(size: int) -> str:
    """A byte count in words, e.g. "10 MB" or "500 KB"."""
    if size >= 1024 * 1024:
        return f"{round(size / (1024 * 1024), 1):g} MB"
    return f"{round(size / 1024):g} KB"


@register.simple_tag
def max_upload_bytes() -> int:
    return settings.SEEN_MAX_UPLOAD_BYTES


@register.simple_tag
def max_upload_size() -> str:
    """The per-photo limit in words, e.g. "10 MB" or "500 KB"."""
    return _size_words(settings.SEEN_MAX_UPLOAD_BYTES)


@register.simple_tag
def max_photos() -> int:
    """How many photos one link may hold."""
    return getattr(settings, "SEEN_MAX_PHOTOS", 10)


@register.simple_tag
def max_share_bytes() -> int:
    """The limit for all the photos of one link together."""
    return getattr(settings, "SEEN_MAX_SHARE_BYTES", 50 * 1024 * 1024)


@register.simple_tag
def max_share_size() -> str:
    """The limit for all the photos of one link together, in words."""
    return _size_words(max_share_bytes())


@register.filter
def seconds_until(moment: datetime) -> int:
    """Whole seconds from now until `moment` (0 once past): the manage page's countdown
    counts from the server's clock, not from a visitor's possibly wrong one."""
    return max(int((moment - timezone.now()).total_seconds()), 0)


# images' words for what was removed from a photo, in the sender's language (the API
# keeps images' English words).
_METADATA_WORDS = {
    images.LOCATION: gettext_lazy("location"),
    images.CAMERA: gettext_lazy("camera model"),
    images.SERIAL: gettext_lazy("camera serial number"),
    images.DATE: gettext_lazy("date taken"),
    images.THUMBNAIL: gettext_lazy("thumbnail"),
    images.COMMENTS: gettext_lazy("comments"),
    images.TRAILER: gettext_lazy("data hidden after the image"),
    images.OTHER: gettext_lazy("other metadata"),
}


@register.filter
def metadata_words(words: list[str]) -> list[str]:
    """What was removed from a photo, each word in the viewer's language."""
    return [str(_METADATA_WORDS.get(word, word)) for word in words]


@register.simple_tag
def local_time(moment: datetime, precision: str = "minutes") -> SafeString:
    """A <time> in the page's language and UTC, the zone named, for pages read without
    script; static/js/times.js rewrites it in the viewer's own zone and format."""
    utc = timezone.localtime(moment, UTC)
    clock = date_format(utc, "H:i:s" if precision == "seconds" else "H:i")
    text = f"{date_format(utc, 'DATE_FORMAT')} {clock}"
    return format_html(
        '<time datetime="{}" data-local-time="{}">{} UTC</time>',
        moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        precision,
        text,
    )


@register.simple_tag
def opened_time(moment: datetime) -> SafeString:
    """When a link was last opened, for the viewer's tamper-evidence line: "today at
    10:02 UTC", "yesterday at 18:40 UTC" or the date and time. Times only, never who.
    static/js/times.js says it again in the viewer's own zone ("relative" precision)."""
    utc = timezone.localtime(moment, UTC)
    today = timezone.localtime(timezone.now(), UTC).date()
    clock = f"{date_format(utc, 'H:i')} UTC"
    if utc.date() == today:
        text = gettext("today at %(time)s") % {"time": clock}
    elif (today - utc.date()).days == 1:
        text = gettext("yesterday at %(time)s") % {"time": clock}
    else:
        text = f"{date_format(utc, 'DATE_FORMAT')} {clock}"
    return format_html(
        '<time datetime="{}" data-local-time="relative">{}</time>',
        moment.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        text,
    )
