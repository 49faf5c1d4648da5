from django.core.management.base import BaseCommand

from shares.services import shares_purge


class Command(BaseCommand):
    help = (
        "Delete ended and expired shares and their photos. Meant for cron, e.g. every "
        "5 minutes: */5 * * * * cd /app && python manage.py purge"
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print what would go; delete nothing")
        parser.add_argument("--batch-size", type=int, default=500, help="rows per batch (default 500)")

    def handle(self, *args, dry_run: bool, batch_size: int, **options):
        result = shares_purge(dry_run=dry_run, batch_size=batch_size)
        verb = "would purge" if dry_run else "purged"
        self.stdout.write(
            f"{verb} {result.shares} shares, {result.objects} objects, {result.failed} failed"
        )
        if result.failed:
            raise SystemExit(1)
