"""`{% abuse_contact %}`: the footer's abuse contact from SEEN_ABUSE_CONTACT, when set.

A template tag rather than a context processor so that every page has it, the error
pages rendered without a request included.
"""

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.translation import gettext

register = template.Library()


@register.simple_tag
def abuse_contact() -> str:
    contact = settings.SEEN_ABUSE_CONTACT
    if not contact:
        return ""
    if contact.startswith(("https://", "http://")):
        href = contact
    elif contact.startswith("mailto:"):
        href, contact = contact, contact.removeprefix("mailto:")
    elif "@" in contact:
        href = f"mailto:{contact}"
    else:
        return format_html(
            '<span class="abuse-contact">{} {}</span>', gettext("Report abuse:"), contact
        )
    return format_html(
        '<span class="abuse-contact">{} <a href="{}" rel="nofollow">{}</a></span>',
        gettext("Report abuse:"),
        href,
        contact,
    )
