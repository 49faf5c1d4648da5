from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shares.ratelimits import CACHE_ERRORS, limits_reset


class Command(BaseCommand):
    help = (
        "Forget the rate-limit counts (Redis under SEEN_RATE_LIMIT_PREFIX, or the "
        "shares_ratecounter table), so that an address over a limit may try again at once. "
        "For trying Seen locally, e.g. after a few wrong PINs refused every view: in "
        "production the limits are what stops guessing, so reset one address at most."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--address",
            help="only this client address (an IPv6 address resets its /64, as it is counted)",
        )
        parser.add_argument(
            "--limit",
            choices=list(settings.SEEN_RATE_LIMITS),
            help="only this limit (default: every limit)",
        )

    def handle(self, *args, address: str | None, limit: str | None, **options):
        try:
            deleted = limits_reset(address=address, limit=limit)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        except CACHE_ERRORS as exc:
            raise CommandError(f"the counters could not be reached: {exc}") from None
        where = "Redis" if settings.REDIS_URL else "the database"
        what = f"limit {limit}" if limit else "every limit"
        whom = f"address {address}" if address else "every address"
        noun = "counter" if deleted == 1 else "counters"
        self.stdout.write(f"Deleted {deleted} rate-limit {noun} in {where} ({what}, {whom}).")
