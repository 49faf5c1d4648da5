import logging
import signal
import threading
import time

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from shares.services import PurgeResult, StorageUnavailable, purge_candidates, shares_purge

log = logging.getLogger(__name__)


def _reason(exc: Exception) -> str:
    # The store's errors already say their kind and code (AccessDenied, NoSuchBucket).
    return str(exc) if isinstance(exc, StorageUnavailable) else f"{exc.__class__.__name__}: {exc}"


def positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError(raw)
    return value


class Command(BaseCommand):
    help = (
        "Delete ended and expired shares and their photos (S3: up to 1,000 per request). "
        "Meant for cron, e.g. every 5 minutes: */5 * * * * cd /app && python manage.py purge; "
        "or run it with --every 300 in a container that has no cron. Exits 1 when some "
        "photo could not be deleted (its share is kept and retried next run)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="print what would go (each share and object with -v 2); delete nothing",
        )
        parser.add_argument(
            "--batch-size",
            type=positive_int,
            default=500,
            help="rows claimed per transaction (default 500)",
        )
        parser.add_argument(
            "--orphans",
            action="store_true",
            help="also delete objects under photos/ that no share references, over an hour old",
        )
        parser.add_argument(
            "--every",
            type=positive_int,
            metavar="SECONDS",
            help="run again every SECONDS until SIGTERM or Ctrl-C (for a container without cron)",
        )

    def handle(
        self, *args, dry_run: bool, batch_size: int, orphans: bool, every: int | None, **options
    ):
        self.verbosity = options["verbosity"]
        if every is None:
            try:
                result = self.run_once(dry_run=dry_run, batch_size=batch_size, orphans=orphans)
            except (DatabaseError, StorageUnavailable) as exc:
                # Cron mails this line, not a traceback; nothing half-done is lost (see help).
                raise CommandError(f"purge stopped: {_reason(exc)}") from None
            if result.failed:
                raise CommandError(
                    f"{result.failed} photo(s) could not be deleted; their shares are kept and "
                    "the next run tries again",
                    returncode=1,
                )
            return
        self.run_every(every, dry_run=dry_run, batch_size=batch_size, orphans=orphans)

    def run_once(self, *, dry_run: bool, batch_size: int, orphans: bool) -> PurgeResult:
        started = time.monotonic()
        if dry_run and self.verbosity >= 2:
            for item in purge_candidates(orphans=orphans):
                self.stdout.write(f"would delete {item}")
        result = shares_purge(dry_run=dry_run, batch_size=batch_size, orphans=orphans)
        seconds = time.monotonic() - started
        verb = "would purge" if dry_run else "purged"
        self.stdout.write(
            f"{verb} {result.shares} shares, {result.objects} objects, {result.failed} failed, "
            f"{result.orphans} orphans in {seconds:.1f} s"
        )
        self.stdout.flush()
        return result

    def run_every(self, seconds: int, **purge_options) -> None:
        # SIGTERM (docker stop) lets the run in progress finish, then the loop ends.
        stop = threading.Event()

        def request_stop(signum, frame):
            stop.set()

        previous = {
            sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)
        }
        try:
            while not stop.is_set():
                try:
                    self.run_once(**purge_options)
                except (DatabaseError, StorageUnavailable) as exc:
                    # An outage ends this run, not the loop: the next run tries again.
                    log.error("purge run failed: %s", _reason(exc))
                finally:
                    connections.close_all()
                stop.wait(seconds)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        self.stdout.write("stopped")
        self.stdout.flush()
