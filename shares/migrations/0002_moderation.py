"""Moderation: abuse reports, the audit log, the desk's permissions and the `moderator` group."""

import django.db.models.deletion
import django.utils.timezone
from django.apps import apps as global_apps
from django.conf import settings
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

# Exactly what the moderation desk needs: see shares, act on them, preview reported
# photos, read reports and the audit log. No add, change or delete of anything.
MODERATOR_PERMISSIONS = [
    ("share", "view_share"),
    ("share", "moderate_share"),
    ("share", "preview_share"),
    ("report", "view_report"),
    ("moderationevent", "view_moderationevent"),
]


def create_moderator_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran (post_migrate); create
    # this app's now so the group can be given them in the same migrate.
    create_permissions(global_apps.get_app_config("shares"), apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name="moderator")
    permissions = [
        Permission.objects.get(
            content_type__app_label="shares", content_type__model=model, codename=codename
        )
        for model, codename in MODERATOR_PERMISSIONS
    ]
    group.permissions.set(permissions)


def delete_moderator_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="moderator").delete()


class Migration(migrations.Migration):
    dependencies = [
        ("shares", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="share",
            options={
                "ordering": ["-created_at"],
                "permissions": [
                    ("moderate_share", "Can remove and restore shares and dismiss their reports"),
                    ("preview_share", "Can preview a share's photo without spending a view"),
                ],
            },
        ),
        migrations.CreateModel(
            name="ModerationEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                ("actor_name", models.CharField(max_length=150, verbose_name="who")),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("suspended", "suspended (reports reached the threshold)"),
                            ("restored", "restored"),
                            ("removed", "removed"),
                            ("dismissed", "dismissed reports"),
                            ("previewed", "previewed the photo"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "share_number",
                    models.PositiveBigIntegerField(db_index=True, verbose_name="share id"),
                ),
                ("note", models.CharField(blank=True, max_length=500)),
                (
                    "actor",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "share",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="moderation_events",
                        to="shares.share",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="Report",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "share_number",
                    models.PositiveBigIntegerField(db_index=True, verbose_name="share id"),
                ),
                (
                    "reason",
                    models.CharField(
                        choices=[
                            ("illegal", "illegal content"),
                            ("harassment", "harassment"),
                            ("malware", "malware or phishing"),
                            ("other", "other"),
                        ],
                        max_length=20,
                    ),
                ),
                ("details", models.TextField(blank=True, max_length=2000)),
                (
                    "created_at",
                    models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("open", "open"),
                            ("actioned", "actioned"),
                            ("dismissed", "dismissed"),
                        ],
                        db_index=True,
                        default="open",
                        max_length=20,
                    ),
                ),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("resolved_by", models.CharField(blank=True, max_length=150)),
                (
                    "share",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="reports",
                        to="shares.share",
                    ),
                ),
            ],
            options={
                "ordering": ["-created_at"],
            },
        ),
        migrations.RunPython(create_moderator_group, delete_moderator_group),
    ]
