import math

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management.base import BaseCommand, CommandError

from shares.services import PHOTO_PREFIX

RULE_ID = "seen-safety-net"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def safety_net_rule() -> dict:
    """Expire photos one day after the longest share could still need them, and abort
    uploads a crash left half done. A net under purge, which normally deletes far sooner."""
    longest_days = math.ceil(max(settings.SEEN_EXPIRY_CHOICES) / 86400)
    return {
        "ID": RULE_ID,
        "Filter": {"Prefix": PHOTO_PREFIX},
        "Status": "Enabled",
        "Expiration": {"Days": longest_days + 1},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }


def _error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def _rule_facts(rule: dict) -> tuple:
    """What matters in a lifecycle rule, whatever shape the server returns it in."""
    prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix", ""))
    return (
        rule.get("Status"),
        prefix,
        rule.get("Expiration", {}).get("Days"),
        rule.get("AbortIncompleteMultipartUpload", {}).get("DaysAfterInitiation"),
    )


class Command(BaseCommand):
    help = (
        "Prepare the S3 bucket for photos: block public access and add a lifecycle rule that "
        "expires photos one day after the longest share expiry and aborts incomplete "
        "multipart uploads after one day. A safety net under purge, not a replacement. "
        "Safe to run again: it changes only what differs."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--create",
            action="store_true",
            help="create the bucket if it does not exist (development)",
        )

    def handle(self, *args, create: bool, **options):
        bucket = getattr(default_storage, "bucket", None)
        if bucket is None:
            raise CommandError(
                "setup_bucket is for S3 storage only: set AWS_STORAGE_BUCKET_NAME "
                "(photos are now stored in a local folder, which needs no setup)"
            )
        client, name = bucket.meta.client, bucket.name
        try:
            self.ensure_bucket(client, name, create=create)
            self.block_public_access(client, name)
            self.put_safety_net(client, name)
        except (BotoCoreError, ClientError) as exc:
            raise CommandError(f"bucket {name}: {exc}") from None

    def ensure_bucket(self, client, name: str, *, create: bool) -> None:
        try:
            client.head_bucket(Bucket=name)
        except ClientError as exc:
            if _error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                raise
            if not create:
                raise CommandError(
                    f"bucket {name} does not exist: create it, or pass --create"
                ) from None
            region = client.meta.region_name
            extra = {}
            if region and region != "us-east-1":
                extra["CreateBucketConfiguration"] = {"LocationConstraint": region}
            client.create_bucket(Bucket=name, **extra)
            self.stdout.write(f"bucket {name}: created")
            return
        self.stdout.write(f"bucket {name}: exists")

    def block_public_access(self, client, name: str) -> None:
        blocked = ", ".join(PUBLIC_ACCESS_BLOCK)
        try:
            current = client.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"]
        except ClientError as exc:
            code = _error_code(exc)
            if code == "NotImplemented":
                self.stderr.write(
                    "public access block: WARNING this S3 server does not implement it "
                    "(NotImplemented); make sure its own configuration allows no anonymous access"
                )
                return
            if code != "NoSuchPublicAccessBlockConfiguration":
                raise
            current = {}
        if current == PUBLIC_ACCESS_BLOCK:
            self.stdout.write(f"public access: blocked ({blocked}), unchanged")
            return
        client.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=PUBLIC_ACCESS_BLOCK
        )
        self.stdout.write(f"public access: blocked ({blocked}), set")

    def put_safety_net(self, client, name: str) -> None:
        wanted = safety_net_rule()
        try:
            rules = client.get_bucket_lifecycle_configuration(Bucket=name)["Rules"]
        except ClientError as exc:
            if _error_code(exc) != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        ours = [rule for rule in rules if rule.get("ID") == RULE_ID]
        if len(ours) == 1 and _rule_facts(ours[0]) == _rule_facts(wanted):
            state = "unchanged"
        else:
            # Rules other tools put on the bucket stay as they are.
            others = [rule for rule in rules if rule.get("ID") != RULE_ID]
            client.put_bucket_lifecycle_configuration(
                Bucket=name, LifecycleConfiguration={"Rules": [*others, wanted]}
            )
            state = "set"
        days = wanted["Expiration"]["Days"]
        self.stdout.write(
            f"lifecycle rule {RULE_ID}: objects under {PHOTO_PREFIX} expire {days} days after "
            f"upload (longest share expiry {days - 1} days + 1); incomplete multipart uploads "
            f"are aborted after 1 day, {state}"
        )
