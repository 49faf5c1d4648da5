import math

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shares import photostore
from shares.services import PHOTO_PREFIX

RULE_ID = "seen-safety-net"
PUBLIC_ACCESS_BLOCK = {
    "BlockPublicAcls": True,
    "IgnorePublicAcls": True,
    "BlockPublicPolicy": True,
    "RestrictPublicBuckets": True,
}


def safety_net_rule(*, versioned: bool = False) -> dict:
    """Expire photos one day after the longest share could still need them, and abort
    uploads a crash left half done. A net under purge, which normally deletes far sooner.
    On a versioned bucket, also expire the versions a delete leaves behind after a day."""
    longest_days = math.ceil(max(settings.SEEN_EXPIRY_CHOICES) / 86400)
    rule = {
        "ID": RULE_ID,
        "Filter": {"Prefix": PHOTO_PREFIX},
        "Status": "Enabled",
        "Expiration": {"Days": longest_days + 1},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
    }
    if versioned:
        rule["NoncurrentVersionExpiration"] = {"NoncurrentDays": 1}
    return rule


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
        rule.get("NoncurrentVersionExpiration", {}).get("NoncurrentDays"),
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
        bucket = photostore.s3_bucket()
        if bucket is None:
            raise CommandError(
                "setup_bucket is for S3 storage only: set AWS_STORAGE_BUCKET_NAME "
                "(photos are now stored in a local folder, which needs no setup)"
            )
        client, name = bucket
        try:
            self.ensure_bucket(client, name, create=create)
            self.refuse_object_lock(client, name)
            versioned = self.versioning(client, name)
            self.block_public_access(client, name)
            self.put_safety_net(client, name, versioned=versioned)
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

    def refuse_object_lock(self, client, name: str) -> None:
        """Object Lock keeps versions from being deleted for a retention period: a photo
        could outlive its share by years, whatever Seen does. Such a bucket is refused."""
        try:
            lock = client.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]
        except ClientError as exc:
            if _error_code(exc) in {"ObjectLockConfigurationNotFoundError", "NotImplemented"}:
                return
            raise
        if lock.get("ObjectLockEnabled") == "Enabled":
            raise CommandError(
                f"bucket {name} has S3 Object Lock enabled, so photos could not be deleted "
                "when their share ends. Use a bucket without Object Lock for Seen."
            )

    def versioning(self, client, name: str) -> bool:
        """Whether the bucket keeps versions (versioning Enabled, or Suspended with old
        versions still there); says so loudly, since every delete then leaves a copy."""
        status = client.get_bucket_versioning(Bucket=name).get("Status")
        if status not in {"Enabled", "Suspended"}:
            self.stdout.write("versioning: off")
            return False
        self.stderr.write(
            f"versioning: WARNING versioning is {status} on bucket {name}. A delete there "
            "only hides a photo behind a delete marker and the photo stays readable by its "
            "version ID. Seen deletes every version of a photo itself, and the lifecycle "
            "rule below also expires noncurrent versions after 1 day as a net. A bucket "
            "without versioning is safer: turn it off if nothing else needs it."
        )
        return True

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

    def put_safety_net(self, client, name: str, *, versioned: bool) -> None:
        wanted = safety_net_rule(versioned=versioned)
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
            f"are aborted after 1 day"
            + ("; noncurrent versions expire after 1 day" if versioned else "")
            + f", {state}"
        )
