from django.contrib import admin, messages
from django.contrib.admin.options import ActionLocation
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from . import services
from .models import EndReason, Share


class StatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("live", "live"), ("expired", "expired"), ("ended", "ended")]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "live":
            return queryset.filter(ended_at__isnull=True, expires_at__gt=now)
        if self.value() == "expired":
            return queryset.filter(ended_at__isnull=True, expires_at__lte=now)
        if self.value() == "ended":
            return queryset.filter(ended_at__isnull=False)
        return queryset


class HasPinFilter(admin.SimpleListFilter):
    title = "PIN"
    parameter_name = "pin"

    def lookups(self, request, model_admin):
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.exclude(pin_hash="")
        if self.value() == "no":
            return queryset.filter(pin_hash="")
        return queryset


@admin.register(Share)
class ShareAdmin(admin.ModelAdmin):
    list_display = ["id", "created_at", "expires_at", "views", "pin", "size", "content_type", "status"]
    list_filter = [StatusFilter, HasPinFilter, "content_type", "end_reason", "prevent_download"]
    date_hierarchy = "created_at"
    actions = ["delete_now"]
    # Nothing here can be edited: every change goes through services.
    readonly_fields = [f.name for f in Share._meta.fields]
    exclude = ["pin_hash"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="views")
    def views(self, share: Share) -> str:
        limit = "∞" if share.view_limit is None else share.view_limit
        return f"{share.views_used} / {limit}"

    @admin.display(description="PIN", boolean=True)
    def pin(self, share: Share) -> bool:
        return share.has_pin

    @admin.display(description="size", ordering="size_bytes")
    def size(self, share: Share) -> str:
        return filesizeformat(share.size_bytes)

    @admin.display(description="status")
    def status(self, share: Share) -> str:
        return share.status_text

    @admin.action(description="Delete now (end the share and delete its photo)", permissions=["delete"])
    def delete_now(self, request, queryset):
        count = services.shares_end(
            share_ids=list(queryset.values_list("pk", flat=True)), reason=EndReason.REMOVED
        )
        self.message_user(request, f"Ended {count} shares; their photos are deleted.", messages.SUCCESS)

    def get_actions(self, request, action_location=ActionLocation.CHANGE_LIST):
        actions = super().get_actions(request, action_location=action_location)
        # The built-in bulk delete would drop rows and leave their photos in storage.
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        services.share_end(share_id=obj.pk, reason=EndReason.REMOVED)
