"""Small template helpers for the pages: the QR code of a link, the upload limit, a countdown."""

from datetime import datetime

import segno
from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe

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
    svg = svg.replace("<svg ", '<svg role="img" aria-label="QR code of the share link" ', 1)
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
