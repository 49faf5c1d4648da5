"""Small template helpers for the pages: the QR code of a link, the upload limit, a countdown."""

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


@register.simple_tag
def max_upload_bytes() -> int:
    return settings.SEEN_MAX_UPLOAD_BYTES


@register.simple_tag
def max_upload_size() -> str:
    """The upload limit in words, e.g. "10 MB" or "500 KB"."""
    size = settings.SEEN_MAX_UPLOAD_BYTES
    if size >= 1024 * 1024:
        return f"{round(size / (1024 * 1024), 1):g} MB"
    return f"{round(size / 1024):g} KB"


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
