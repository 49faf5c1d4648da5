"""Albums: a share holds its photos in Photo rows (one or more, in order), may carry a
sealed note, and each view may hold a one-time fetch window.

Every share that exists becomes a one-photo share: its photo's row is copied from the
share's own columns in one INSERT … SELECT, before those columns are removed, so no live
share loses its photo (shares/tests/test_migrations.py runs this on a database of live
shares). It can be unapplied
only on a database without shares: an album has no one-photo form to go back to."""

import django.db.models.deletion
from django.db import migrations, models


def photos_from_shares(apps, schema_editor):
    quote = schema_editor.connection.ops.quote_name
    share = quote(apps.get_model("shares", "Share")._meta.db_table)
    photo = quote(apps.get_model("shares", "Photo")._meta.db_table)
    columns = "share_id, position, " + ", ".join(
        quote(c) for c in ("key", "content_type", "size_bytes", "width", "height")
    )
    schema_editor.execute(
        f"INSERT INTO {photo} ({columns}) "
        f"SELECT id, 1, photo_key, content_type, size_bytes, width, height FROM {share}"
    )


def only_when_empty(apps, schema_editor):
    if apps.get_model("shares", "Share").objects.exists():
        raise RuntimeError(
            "0006_albums cannot be unapplied while shares exist: an album has no one-photo form"
        )


class Migration(migrations.Migration):
    dependencies = [
        ("shares", "0005_encryption"),
    ]

    operations = [
        migrations.CreateModel(
            name="Photo",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField()),
                ("key", models.CharField(editable=False, max_length=200, unique=True)),
                ("content_type", models.CharField(max_length=50)),
                ("size_bytes", models.PositiveBigIntegerField()),
                ("width", models.PositiveIntegerField()),
                ("height", models.PositiveIntegerField()),
            ],
            options={
                "ordering": ["share", "position"],
            },
        ),
        migrations.AddField(
            model_name="photo",
            name="share",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="photos",
                to="shares.share",
            ),
        ),
        migrations.AddConstraint(
            model_name="photo",
            constraint=models.UniqueConstraint(
                fields=("share", "position"), name="photo_position_unique"
            ),
        ),
        migrations.AddField(
            model_name="share",
            name="note_sealed",
            field=models.BinaryField(blank=True, max_length=4096, null=True),
        ),
        migrations.AddField(
            model_name="share",
            name="photo_count",
            field=models.PositiveSmallIntegerField(default=1, editable=False),
        ),
        migrations.AddField(
            model_name="share",
            name="viewer_can_end",
            field=models.BooleanField(default=False),
        ),
        migrations.AddField(
            model_name="shareview",
            name="fetch_key",
            field=models.BinaryField(blank=True, max_length=128, null=True),
        ),
        migrations.AddField(
            model_name="shareview",
            name="fetch_until",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="shareview",
            name="fetched",
            field=models.PositiveBigIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="shareview",
            name="secret_hash",
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.AddField(
            model_name="shareview",
            name="window_open",
            field=models.BooleanField(default=False),
        ),
        migrations.AlterField(
            model_name="share",
            name="end_reason",
            field=models.CharField(
                blank=True,
                choices=[
                    ("viewed", "all views used"),
                    ("expired", "expired"),
                    ("revoked", "deleted by the sender"),
                    ("pin", "too many wrong PINs"),
                    ("removed", "removed by a moderator"),
                    ("missing", "photo missing from storage"),
                    ("damaged", "photo damaged in storage"),
                    ("viewer", "ended by a viewer"),
                ],
                max_length=20,
            ),
        ),
        migrations.AddIndex(
            model_name="shareview",
            index=models.Index(
                condition=models.Q(("window_open", True)),
                fields=["fetch_until"],
                name="open_window_idx",
            ),
        ),
        migrations.RunPython(photos_from_shares, migrations.RunPython.noop, elidable=False),
        migrations.RemoveField(
            model_name="share",
            name="content_type",
        ),
        migrations.RemoveField(
            model_name="share",
            name="height",
        ),
        migrations.RemoveField(
            model_name="share",
            name="photo_key",
        ),
        migrations.RemoveField(
            model_name="share",
            name="size_bytes",
        ),
        migrations.RemoveField(
            model_name="share",
            name="width",
        ),
        # Last, so that unapplying checks first, before the old columns come back empty.
        migrations.RunPython(migrations.RunPython.noop, only_when_empty, elidable=False),
    ]
