from django import forms
from django.conf import settings
from django.utils.text import format_lazy
from django.utils.translation import gettext, gettext_lazy, ngettext

from .models import ReportReason
from .services import NOTE_MAX_CHARS, VIEW_CHOICES

_BOOLEANS = {
    "": False,
    "0": False,
    "false": False,
    "off": False,
    "no": False,
    "1": True,
    "true": True,
    "on": True,
    "yes": True,
}


def expiry_label(seconds: int) -> str:
    """An expiry choice in the viewer's words: "1 hour", "7 days" (each language's plurals)."""
    if seconds % 86400 == 0:
        days = seconds // 86400
        return ngettext("%(count)s day", "%(count)s days", days) % {"count": days}
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return ngettext("%(count)s hour", "%(count)s hours", hours) % {"count": hours}
    minutes = max(seconds // 60, 1)
    return ngettext("%(count)s minute", "%(count)s minutes", minutes) % {"count": minutes}


def pin_field(message: str) -> forms.RegexField:
    """An optional PIN: 4 to 8 digits, the same shape at upload and when viewing."""
    return forms.RegexField(
        regex=r"^[0-9]{4,8}$",
        required=False,
        strip=True,
        max_length=8,
        error_messages={"invalid": message, "max_length": message},
    )


class _MultipleFiles(forms.ClearableFileInput):
    allow_multiple_selected = True


class PhotosField(forms.FileField):
    """One or more files under one name (`photo`, repeated): an album's photos, in the
    order they were sent. Django's own recipe for a multiple file field."""

    widget = _MultipleFiles

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            if not data:
                return super().clean(None, initial)
            return [super(PhotosField, self).clean(one, initial) for one in data]
        return [super().clean(data, initial)]


class NoteField(forms.CharField):
    def to_python(self, value):
        # One spelling of a line break before the length is checked: a browser sends a
        # textarea's breaks as CRLF, and its maxlength counted each as one character.
        return super().to_python(value).replace("\r\n", "\n").replace("\r", "\n")


def _boolean(value: str, message: str) -> bool:
    raw = value.strip().lower()
    if raw not in _BOOLEANS:
        raise forms.ValidationError(message)
    return _BOOLEANS[raw]


class ShareForm(forms.Form):
    """What a sender submits, from the upload page or the API (same field names)."""

    photo = PhotosField(
        allow_empty_file=False,
        error_messages={
            "required": gettext_lazy("Choose a photo to share."),
            "empty": gettext_lazy("The file is empty."),
            "invalid": gettext_lazy("Send the photo as a file (multipart/form-data)."),
        },
    )
    views = forms.TypedChoiceField(
        choices=[(str(v), "unlimited" if v == 0 else str(v)) for v in VIEW_CHOICES],
        coerce=int,
        required=False,
        empty_value=1,
        error_messages={
            "invalid_choice": gettext_lazy("views must be 1, 3, 5, 10, or 0 for unlimited.")
        },
    )
    expires_in = forms.TypedChoiceField(
        coerce=int,
        required=False,
    )
    pin = pin_field(gettext_lazy("The PIN must be 4 to 8 digits."))
    prevent_download = forms.CharField(required=False, max_length=5)
    # Plain text, shown escaped with its line breaks kept; sealed under the link's key.
    note = NoteField(
        required=False,
        max_length=NOTE_MAX_CHARS,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": NOTE_MAX_CHARS}),
        error_messages={
            "max_length": format_lazy(
                gettext_lazy("The note is too long: keep it to {limit} characters."),
                limit=f"{NOTE_MAX_CHARS:,}",
            )
        },
    )
    viewer_can_end = forms.CharField(required=False, max_length=5)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        choices = settings.SEEN_EXPIRY_CHOICES
        field = self.fields["expires_in"]
        field.choices = [(str(s), expiry_label(s)) for s in choices]
        field.empty_value = settings.SEEN_DEFAULT_EXPIRY
        field.initial = settings.SEEN_DEFAULT_EXPIRY
        field.error_messages["invalid_choice"] = gettext(
            "expires_in must be one of: %(allowed)s (seconds)."
        ) % {"allowed": ", ".join(map(str, choices))}
        self.fields["views"].initial = 1

    def clean_prevent_download(self) -> bool:
        message = gettext("prevent_download must be true or false.")
        return _boolean(self.cleaned_data["prevent_download"], message)

    def clean_viewer_can_end(self) -> bool:
        message = gettext("viewer_can_end must be true or false.")
        return _boolean(self.cleaned_data["viewer_can_end"], message)

    def error_text(self) -> str:
        """All errors as plain sentences, for the API's {"error": ...}."""
        return " ".join(str(message) for errors in self.errors.values() for message in errors)

    def error_code(self) -> str:
        return error_code(self)


class EndForm(forms.Form):
    """ "I'm done, delete it now": the viewer confirms (a checkbox without script)."""

    confirm = forms.CharField(required=False, max_length=5)

    def clean_confirm(self) -> bool:
        message = gettext("Confirm that the photos should be deleted now (confirm=true).")
        if not _boolean(self.cleaned_data["confirm"], message):
            raise forms.ValidationError(message)
        return True


class PinForm(forms.Form):
    # The same shape as at upload: anything else cannot match, so it is refused unchecked.
    pin = pin_field(gettext_lazy("The PIN is 4 to 8 digits."))


class ReportForm(forms.Form):
    """A viewer's abuse report: a reason and, optionally, a few words."""

    reason = forms.ChoiceField(
        choices=ReportReason.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": gettext_lazy("Choose a reason."),
            "invalid_choice": format_lazy(
                gettext_lazy("reason must be one of: {reasons}."),
                reasons=", ".join(ReportReason.values),
            ),
        },
    )
    details = forms.CharField(
        required=False,
        max_length=2000,
        strip=True,
        widget=forms.Textarea(attrs={"rows": 4, "maxlength": 2000}),
        error_messages={"max_length": gettext_lazy("Keep the details under 2000 characters.")},
    )
    # Only for a share with a PIN, and optional: with it, the report carries the photo's key
    # for the moderators; without it, the report is kept but they cannot see the photo.
    pin = pin_field("The PIN is 4 to 8 digits.")

    def error_text(self) -> str:
        return " ".join(str(message) for errors in self.errors.values() for message in errors)

    def error_code(self) -> str:
        return error_code(self)


def error_code(form: forms.Form) -> str:
    """The stable code of a form's first refused field: invalid_photo, invalid_views,
    invalid_expires_in, invalid_pin, invalid_prevent_download, invalid_reason,
    invalid_details (README, "Error codes")."""
    return f"invalid_{next(iter(form.errors), 'form')}"
