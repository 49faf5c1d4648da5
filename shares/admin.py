"""The admin as a moderation desk.

Nothing here edits a row: every change goes through services (which write the audit
log), and no token, hash or storage key is ever shown. A moderator needs the `moderator`
group's permissions (see migration 0002), not a superuser's.
"""

from django.contrib import admin, messages
from django.contrib.admin import ActionLocation
from django.contrib.admin.filters import FieldListFilter, ListFilter
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, Subquery, Sum
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from . import services
from .models import ModerationEvent, Photo, Report, ReportStatus, Share, ShareStatus

admin.site.site_header = _("Seen moderation")
admin.site.site_title = _("Seen admin")
admin.site.index_title = _("Moderation desk")

# Moderation actions work from the list (on a selection) and from one share's page.
EVERYWHERE = [ActionLocation.CHANGE_LIST, ActionLocation.CHANGE_FORM]


def _share_link(share_id: int | None, share_number: int) -> str:
    """A link to the share's page, or its id alone once purge has deleted it."""
    if share_id is None:
        return gettext("share %(number)s (purged)") % {"number": share_number}
    url = reverse("admin:shares_share_change", args=[share_id])
    return format_html(
        '<a href="{}">{}</a>', url, gettext("share %(number)s") % {"number": share_number}
    )


def _dismissed_message(dismissed: int) -> str:
    return ngettext("Dismissed %(count)s report.", "Dismissed %(count)s reports.", dismissed) % {
        "count": dismissed
    }


def _already_purged(count: int) -> str:
    """For shares that purge deleted between the moderator's list and the action."""
    return ngettext(
        "%(count)s share was already purged (it had ended and its row is deleted): nothing to do.",
        "%(count)s shares were already purged (they had ended and their rows are deleted).",
        count,
    ) % {"count": count}


class ModeratorPermissions:
    """has_moderate_permission / has_preview_permission, for actions and the preview."""

    def has_moderate_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("shares.moderate_share")

    def has_preview_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("shares.preview_share")


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return ShareStatus.choices

    def queryset(self, request, queryset):
        # What the list's status column (Share.status) says, by the same definition.
        if self.value() in ShareStatus.values:
            return queryset.with_status(self.value())
        return queryset


class ReportsFilter(admin.SimpleListFilter):
    title = _("reports")
    parameter_name = "reports"

    def lookups(self, request, model_admin):
        return [
            ("open", _("has open reports")),
            ("any", _("has reports")),
            ("none", _("no reports")),
        ]

    def queryset(self, request, queryset):
        # The counts are annotated by ShareAdmin.get_queryset.
        if self.value() == "open":
            return queryset.filter(open_report_count__gt=0)
        if self.value() == "any":
            return queryset.filter(report_count__gt=0)
        if self.value() == "none":
            return queryset.filter(report_count=0)
        return queryset


class HasPinFilter(admin.SimpleListFilter):
    title = _("PIN")
    parameter_name = "pin"

    def lookups(self, request, model_admin):
        return [("yes", _("yes")), ("no", _("no"))]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(pin_hash="")
        if self.value() == "no":
            return queryset.filter(pin_hash="")
        return queryset


class OwnFiltersOnly:
    """Filter a list only through the admin's own filters and date hierarchy.

    Django lets a list URL filter by any of the model's own columns
    (?pin_hash__startswith=pbkdf2, ?token_hash=..., ?photo_key__startswith=...): whoever
    may view shares could read hashes and storage keys one character at a time, or find a
    share's row from its link. Any other parameter is refused, which Django answers with
    400 (DisallowedModelAdminLookup).
    """

    # Lookups the admin's own links use that are not list filters.
    linked_lookups: frozenset[str] = frozenset()

    def lookup_allowed(self, lookup, value, request) -> bool:
        return lookup in self.linked_lookups or lookup in self._filter_parameters(request)

    def _filter_parameters(self, request: HttpRequest) -> set[str]:
        """The query parameters the list's filters read, asked of the filters themselves
        (built without parameters: none of them queries the database until shown)."""
        names = set()
        if self.date_hierarchy:
            names |= {f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day")}
        for item in self.get_list_filter(request):
            if isinstance(item, type) and issubclass(item, ListFilter):
                spec = item(request, {}, self.model, self)
            else:
                field_path, filter_class = (
                    item if isinstance(item, (list, tuple)) else (item, FieldListFilter.create)
                )
                field = get_fields_from_path(self.model, field_path)[-1]
                spec = filter_class(field, request, {}, self.model, self, field_path=field_path)
            names |= set(spec.expected_parameters())
        # ?status=open means what the filter's own ?status__exact=open means.
        return names | {name.removesuffix("__exact") for name in names}


class ReadOnly:
    """Nothing in this admin is added, edited or deleted by hand: every change goes through
    services, and a delete would drop a row and leave its photo in storage (purge deletes
    rows)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReportInline(ReadOnly, admin.TabularInline):
    model = Report
    fields = ["created_at", "reason", "details", "status", "resolved_at", "resolved_by"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False


@admin.register(Share)
class ShareAdmin(OwnFiltersOnly, ReadOnly, ModeratorPermissions, admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "reports",
        "created_at",
        "expires_at",
        "views",
        "pin",
        "photos",
        "size",
    ]
    list_filter = [StatusFilter, ReportsFilter, HasPinFilter]
    date_hierarchy = "created_at"
    actions = ["remove", "restore", "dismiss_reports"]
    # Deliberately no token_hash, manage_token_hash, pin_hash or photo_key.
    fields = [
        "id",
        "status",
        "reports",
        "created_at",
        "expires_at",
        "views",
        "pin",
        "prevent_download",
        "photos",
        "size",
        "photo_list",
        "note",
        "suspended_at",
        "ended_at",
        "photo_deleted_at",
        "delete_failures",
        "last_delete_error",
    ]
    readonly_fields = fields
    inlines = [ReportInline]
    change_form_template = "admin/shares/share/change_form.html"

    def get_queryset(self, request):
        # Not super(): it orders before the counts the ordering uses are annotated.
        photo_bytes = (
            Photo.objects.filter(share=OuterRef("pk"))
            .values("share")
            .annotate(total=Sum("size_bytes"))
            .values("total")
        )
        return Share.objects.annotate(
            total_bytes=Subquery(photo_bytes),
            report_count=Count("reports"),
            open_report_count=Count("reports", filter=Q(reports__status=ReportStatus.OPEN)),
        ).order_by(*self.get_ordering(request))

    def get_ordering(self, request):
        # The desk's queue: shares with open reports first, then any reported, then newest.
        return ["-open_report_count", "-report_count", "-created_at"]

    @admin.display(description=_("status"))
    def status(self, share: Share) -> str:
        return share.status_text

    @admin.display(description=_("reports (open / all)"), ordering="open_report_count")
    def reports(self, share: Share) -> str:
        if not share.report_count:
            return "–"
        url = reverse("admin:shares_report_changelist") + f"?share_number={share.pk}"
        return format_html(
            '<a href="{}">{} / {}</a>', url, share.open_report_count, share.report_count
        )

    @admin.display(description=_("views"))
    def views(self, share: Share) -> str:
        limit = "∞" if share.view_limit is None else share.view_limit
        return f"{share.views_used} / {limit}"

    @admin.display(description=_("PIN"), boolean=True)
    def pin(self, share: Share) -> bool:
        return share.has_pin

    @admin.display(description=_("photos"), ordering="photo_count")
    def photos(self, share: Share) -> int:
        return share.photo_count

    @admin.display(description=_("size"), ordering="total_bytes")
    def size(self, share: Share) -> str:
        return filesizeformat(share.total_bytes or 0)

    @admin.display(description=_("each photo"))
    def photo_list(self, share: Share) -> str:
        return format_html_join(
            mark_safe("<br>"),
            "{}. {}, {}, {} × {}",
            (
                (p.position, p.content_type, filesizeformat(p.size_bytes), p.width, p.height)
                for p in share.photos.all()
            ),
        )

    @admin.display(description=_("note"), boolean=True)
    def note(self, share: Share) -> bool:
        # Whether there is one: it is sealed under the link's key, which no one here has.
        return share.has_note

    @admin.action(
        description=_("Remove: end the share and delete its photo now (its reports are kept)"),
        permissions=["moderate"],
        location=EVERYWHERE,
    )
    def remove(self, request, queryset):
        # One service call for the whole selection: one transaction, and the photos deleted
        # in batches of 1,000 once it commits (a request per share outlasted the timeout).
        result = services.shares_remove(
            share_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        if result.removed:
            removed = len(result.removed)
            message = ngettext(
                "Removed %(count)s share; its photo is deleted.",
                "Removed %(count)s shares; their photos are deleted.",
                removed,
            ) % {"count": removed}
            self.message_user(request, message, messages.SUCCESS)
        if result.photos_waiting:
            message = ngettext(
                "%(count)s of those photos is being sent to a viewer right now: it is deleted "
                "as soon as that view ends.",
                "%(count)s of those photos are being sent to a viewer right now: each is "
                "deleted as soon as that view ends.",
                result.photos_waiting,
            ) % {"count": result.photos_waiting}
            self.message_user(request, message, messages.INFO)
        if result.purged:
            self.message_user(request, _already_purged(len(result.purged)), messages.WARNING)

    @admin.action(
        description=_("Restore: put a suspended share back online (dismisses its open reports)"),
        permissions=["moderate"],
        location=EVERYWHERE,
    )
    def restore(self, request, queryset):
        share_ids = list(queryset.values_list("pk", flat=True))
        restored = purged = 0
        for share_id in share_ids:
            try:
                restored += services.share_restore(share_id=share_id, actor=request.user)
            except services.ShareGone:
                purged += 1
        message = ngettext("Restored %(count)s share.", "Restored %(count)s shares.", restored) % {
            "count": restored
        }
        self.message_user(request, message, messages.SUCCESS)
        left = len(share_ids) - restored - purged
        if left:
            message = ngettext(
                "%(count)s was not suspended (or has ended) and was left as it was.",
                "%(count)s were not suspended (or have ended) and were left as they were.",
                left,
            ) % {"count": left}
            self.message_user(request, message, messages.WARNING)
        if purged:
            self.message_user(request, _already_purged(purged), messages.WARNING)

    @admin.action(
        description=_("Dismiss reports: close the open reports as unfounded (a suspension stays)"),
        permissions=["moderate"],
        location=EVERYWHERE,
    )
    def dismiss_reports(self, request, queryset):
        share_ids = list(queryset.values_list("pk", flat=True))
        report_ids = Report.objects.filter(
            share_id__in=share_ids, status=ReportStatus.OPEN
        ).values_list("pk", flat=True)
        dismissed = services.reports_dismiss(report_ids=list(report_ids), actor=request.user)
        self.message_user(request, _dismissed_message(dismissed), messages.SUCCESS)

    # --- preview ---------------------------------------------------------------------------

    def get_urls(self):
        preview = path(
            "<path:object_id>/preview/",
            self.admin_site.admin_view(self.preview_view),
            name="shares_share_preview",
        )
        # Before the default URLs: their "<path:object_id>/" would swallow this one.
        return [preview, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_preview": self.has_preview_permission(request),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def preview_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: a page with the preview button, or why this share's photo cannot be opened
        here (nobody reported it, or its reports carry no key). POST: the photo's bytes,
        without spending a view (one photo of an album at a time: the POST's `photo`, 1, 2,
        …), or with `note` the share's note shown in the page; every one, and every refused
        try, is written to the audit log."""
        if not self.has_preview_permission(request):
            raise PermissionDenied
        try:
            share = self.get_queryset(request).get(pk=int(unquote(object_id)))
        except (ValueError, Share.DoesNotExist):
            raise Http404("No such share") from None
        error, status, note, preview = "", 200, None, None
        if request.method == "POST":
            try:
                position = int(request.POST.get("photo") or 1)
            except ValueError:
                position = 0  # no such photo: answered as missing below
            try:
                if request.POST.get("note"):
                    note = services.moderation_note(share_id=share.pk, actor=request.user)
                else:
                    preview = services.moderation_preview(
                        share_id=share.pk, actor=request.user, position=position
                    )
            except services.PreviewRefused as exc:
                error, status = str(exc), 400
            except services.ShareGone:
                error = gettext("This share has ended: its photo is deleted or about to be.")
                status = 410
            except services.PhotoDamaged:
                error = gettext("The photo in storage is damaged: it fails authentication.")
                status = 404
            except (services.ShareNotFound, services.PhotoMissing):
                error, status = gettext("The photo is missing from storage."), 404
            except services.StorageUnavailable:
                error = gettext("Photo storage is unavailable right now. Try again in a minute.")
                status = 503
            if preview is not None:
                response = FileResponse(preview.stream, content_type=preview.content_type)
                response["Content-Length"] = str(preview.size_bytes)
                response["Content-Disposition"] = "inline"
                response["Cache-Control"] = "no-store"
                return response
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": gettext("Preview share %(number)s") % {"number": share.pk},
            "share": share,
            "photos": share.photos.all(),
            "note": note,
            "refusal": services.preview_refusal(share),
            "error": error,
        }
        response = TemplateResponse(
            request, "admin/shares/share/preview.html", context, status=status
        )
        response["Cache-Control"] = "no-store"  # it may hold the note
        return response


@admin.register(Report)
class ReportAdmin(OwnFiltersOnly, ReadOnly, ModeratorPermissions, admin.ModelAdmin):
    list_display = [
        "created_at",
        "share_link",
        "reason",
        "short_details",
        "carries_key",
        "status",
        "resolved_at",
        "resolved_by",
    ]
    list_filter = ["status", "reason"]
    date_hierarchy = "created_at"
    # The share list links each share's reports by share id (ShareAdmin.reports).
    linked_lookups = frozenset({"share_number"})
    actions = ["dismiss"]
    fields = [
        "share_link",
        "reason",
        "details",
        "carries_key",
        "created_at",
        "status",
        "resolved_at",
        "resolved_by",
    ]
    readonly_fields = fields

    def get_ordering(self, request):
        # Open reports first ("open" sorts after "actioned" and "dismissed"), newest first.
        return ["-status", "-created_at"]

    @admin.display(description=_("share"), ordering="share_number")
    def share_link(self, report: Report) -> str:
        return _share_link(report.share_id, report.share_number)

    @admin.display(description=_("photo key"), boolean=True)
    def carries_key(self, report: Report) -> bool:
        """Whether this report lets the moderators open the photo: made with the link (and
        the PIN) while the share lived, and not erased since (the share ended)."""
        return report.wrapped_key is not None

    @admin.display(description=_("details"))
    def short_details(self, report: Report) -> str:
        return Truncator(report.details).chars(120)

    @admin.action(
        description=_("Dismiss: close the selected reports as unfounded"),
        permissions=["moderate"],
        location=EVERYWHERE,
    )
    def dismiss(self, request, queryset):
        dismissed = services.reports_dismiss(
            report_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(request, _dismissed_message(dismissed), messages.SUCCESS)


@admin.register(ModerationEvent)
class ModerationEventAdmin(OwnFiltersOnly, ReadOnly, admin.ModelAdmin):
    """The audit log: read-only for everyone, superusers included."""

    list_display = ["created_at", "actor_name", "action", "share_link", "note"]
    list_filter = ["action"]
    date_hierarchy = "created_at"
    actions = None
    fields = ["created_at", "actor_name", "action", "share_link", "note"]
    readonly_fields = fields

    @admin.display(description=_("share"), ordering="share_number")
    def share_link(self, event: ModerationEvent) -> str:
        return _share_link(event.share_id, event.share_number)


# Django's own user and group pages, with the same rule: ?password__startswith=pbkdf2_...
# would read a colleague's password hash character by character.
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class StaffUserAdmin(OwnFiltersOnly, UserAdmin):
    pass


@admin.register(Group)
class StaffGroupAdmin(OwnFiltersOnly, GroupAdmin):
    pass
