"""Moderation: abuse reports, suspension, the admin desk, previews and the audit log."""

import contextlib
import itertools
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import time_machine
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from shares import photostore, services
from shares.models import (
    EndReason,
    ModerationAction,
    ModerationEvent,
    Report,
    ReportReason,
    ReportStatus,
    Share,
)

from .helpers import in_threads, jpeg_bytes, png_bytes, stored_keys

# Not transaction=True but where the test needs real commits (a live server's thread,
# threads racing): photo deletions that wait for a commit run inside
# django_capture_on_commit_callbacks(execute=True), at the point they would have committed.
pytestmark = pytest.mark.django_db


def report(
    token: str, reason: str = ReportReason.ILLEGAL, details: str = "", address: str = ""
) -> Report:
    """A report from `address`, or else from a reporter of its own."""
    address = address or f"2001:db8::{next(_reporters):x}"
    return services.report_create(
        token=token, reason=reason, details=details, reporter_address=address
    )


_reporters = itertools.count(1)


def preview_url(share: Share) -> str:
    return f"/admin/shares/share/{share.pk}/preview/"


# --- reporting -------------------------------------------------------------------------------


def test_one_report_suspends_an_unlimited_share_at_once(make_share):
    created = make_share(views=0)
    report(created.token)
    share = Share.objects.get()
    assert share.suspended_at is not None
    assert share.status == "suspended"
    event = ModerationEvent.objects.get()
    assert (event.action, event.actor, event.actor_name) == (
        ModerationAction.SUSPENDED,
        None,
        "system",
    )


def test_a_limited_share_is_suspended_at_its_second_report(make_share):
    created = make_share(views=3)
    report(created.token)
    assert Share.objects.get().suspended_at is None
    report(created.token, reason=ReportReason.HARASSMENT)
    assert Share.objects.get().suspended_at is not None
    assert ModerationEvent.objects.filter(action=ModerationAction.SUSPENDED).count() == 1


def test_two_reports_from_one_address_are_one_reporter(make_share):
    created = make_share(views=3)
    report(created.token, address="203.0.113.7")
    report(created.token, reason=ReportReason.HARASSMENT, address="203.0.113.7")
    assert Report.objects.count() == 2  # both are kept for the moderators
    assert Share.objects.get().suspended_at is None
    report(created.token, address="198.51.100.4")
    assert Share.objects.get().suspended_at is not None


def test_one_client_cannot_suspend_a_share_over_http(client, make_share):
    created = make_share(views=3)
    url = f"/s/{created.token}/report"
    for _ in range(3):
        assert client.post(url, {"reason": "illegal"}, REMOTE_ADDR="203.0.113.7").status_code == 201
    assert Share.objects.get().suspended_at is None
    assert client.post(url, {"reason": "illegal"}, REMOTE_ADDR="198.51.100.4").status_code == 201
    assert Share.objects.get().suspended_at is not None


def test_a_reporter_is_a_keyed_hash_that_links_nothing_across_shares(make_share):
    first, second = make_share(views=3), make_share(views=3)
    one = report(first.token, address="203.0.113.7")
    other = report(second.token, address="203.0.113.7")
    assert len(one.reporter) == 64 and "203.0.113" not in one.reporter
    assert one.reporter != other.reporter


def test_the_threshold_setting_applies_to_every_share(make_share, settings):
    settings.SEEN_REPORTS_TO_SUSPEND = 3
    unlimited, limited = make_share(views=0), make_share(views=1)
    for _ in range(2):
        report(unlimited.token)
        report(limited.token)
    assert not Share.objects.filter(suspended_at__isnull=False).exists()
    report(limited.token)
    assert list(Share.objects.filter(suspended_at__isnull=False)) == [limited.share]


def test_dismissed_reports_no_longer_count_towards_the_threshold(make_share, moderator):
    created = make_share(views=3)
    first = report(created.token)
    services.reports_dismiss(report_ids=[first.pk], actor=moderator)
    report(created.token)
    assert Share.objects.get().suspended_at is None
    report(created.token)
    assert Share.objects.get().suspended_at is not None


def test_reporting_locks_the_share_row(make_share):
    created = make_share(views=0)
    with CaptureQueriesContext(connection) as queries:
        report(created.token)
    assert any("FOR UPDATE" in q["sql"] for q in queries.captured_queries)


@pytest.mark.django_db(transaction=True)  # a live server answers from its own thread
def test_simultaneous_reports_suspend_exactly_once(live_server, make_share, settings):
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "reports": "100/m"}
    created = make_share(views=0)
    url = f"{live_server.url}/s/{created.token}/report"
    reporters = 8
    barrier = threading.Barrier(reporters)
    statuses = []

    def reporter():
        barrier.wait()
        response = requests.post(
            url,
            data={"reason": "malware"},
            headers={"Accept": "application/json"},
            timeout=30,
        )
        statuses.append(response.status_code)

    in_threads(reporter, reporters)
    assert statuses == [201] * reporters
    assert Report.objects.count() == reporters
    assert Share.objects.get().suspended_at is not None
    assert ModerationEvent.objects.filter(action=ModerationAction.SUSPENDED).count() == 1


def test_the_report_form_takes_a_reason_and_details_without_spending_a_view(client, make_share):
    created = make_share(views=3)
    page = client.get(f"/s/{created.token}/report")
    assert page.status_code == 200
    html = page.content.decode()
    for label in ("Illegal content", "Harassment", "Malware or phishing", "Other"):
        assert label in html
    assert page["Cache-Control"].count("no-store") == 1

    sent = client.post(
        f"/s/{created.token}/report", {"reason": "harassment", "details": "a photo of my ex"}
    )
    assert sent.status_code == 201
    assert "Thank you" in sent.content.decode()
    saved = Report.objects.get()
    assert (saved.reason, saved.details, saved.status) == ("harassment", "a photo of my ex", "open")
    assert saved.share_number == created.share.pk
    share = Share.objects.get()
    assert share.views_used == 0 and share.suspended_at is None
    assert client.post(f"/s/{created.token}").status_code == 200  # still viewable


def test_a_report_without_a_reason_is_refused(client, make_share):
    created = make_share()
    response = client.post(f"/s/{created.token}/report", {"details": "?"})
    assert response.status_code == 400
    assert "Choose a reason" in response.content.decode()
    response = client.post(
        f"/s/{created.token}/report", {"reason": "spam"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert "reason must be one of" in response.json()["error"]
    assert not Report.objects.exists()


def test_reporting_an_unknown_link_answers_404(client):
    assert client.get("/s/" + "a" * 32 + "/report").status_code == 404
    assert client.post("/s/" + "a" * 32 + "/report", {"reason": "other"}).status_code == 404
    assert client.get("/s/short/report").status_code == 404


def test_scripts_can_report_with_json(client, make_share):
    created = make_share(views=0)
    response = client.post(
        f"/s/{created.token}/report", {"reason": "illegal"}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 201
    assert response.json() == {"status": "received"}


def test_the_open_page_links_to_the_report_form(client, make_share):
    created = make_share()
    html = client.get(f"/s/{created.token}").content.decode()
    assert f'href="/s/{created.token}/report"' in html
    assert "Report this photo" in html


def test_the_footer_shows_the_abuse_contact_when_set(client, settings):
    settings.SEEN_ABUSE_CONTACT = ""
    assert "Report abuse" not in client.get("/").content.decode()
    settings.SEEN_ABUSE_CONTACT = "abuse@example.org"
    assert (
        '<a href="mailto:abuse@example.org" rel="nofollow">abuse@example.org</a>'
        in client.get("/").content.decode()
    )
    settings.SEEN_ABUSE_CONTACT = "https://example.org/abuse"
    assert 'href="https://example.org/abuse"' in client.get("/s/" + "b" * 32).content.decode()


# --- a suspended share -----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # a live server answers from its own thread
def test_a_suspended_share_spends_no_view_and_answers_the_review_page(live_server, make_share):
    created = make_share(views=0)
    report(created.token)
    url = f"{live_server.url}/s/{created.token}"

    page = requests.get(url, timeout=10)
    assert page.status_code == 403
    assert "under review" in page.text
    viewed = requests.post(url, timeout=10)
    assert viewed.status_code == 403
    assert "under review" in viewed.text
    assert not viewed.headers["Content-Type"].startswith("image/")
    assert "no-store" in viewed.headers["Cache-Control"]
    scripted = requests.post(url, headers={"Accept": "application/json"}, timeout=10)
    assert scripted.status_code == 403
    assert scripted.json()["reason"] == "suspended"

    share = Share.objects.get()
    assert share.views_used == 0
    assert share.views.count() == 0
    assert len(stored_keys()) == 1  # kept for the moderator's decision


def test_a_suspended_share_spends_no_pin_attempt(client, make_share):
    created = make_share(views=0, pin="1234")
    report(created.token)
    for _ in range(6):
        assert client.post(f"/s/{created.token}", {"pin": "0000"}).status_code == 403
    share = Share.objects.get()
    assert share.pin_failures == 0 and share.ended_at is None


def test_the_services_refuse_a_suspended_share(make_share):
    created = make_share(views=0)
    report(created.token)
    with pytest.raises(services.ShareSuspended):
        services.share_get(token=created.token)
    with pytest.raises(services.ShareSuspended):
        services.share_view(token=created.token)
    assert Share.objects.get().views_used == 0


def test_the_senders_manage_page_says_it_is_under_review(client, make_share):
    created = make_share(views=0)
    report(created.token)
    html = client.get(f"/m/{created.manage_token}").content.decode()
    assert "Suspended for review" in html


# --- the admin desk ---------------------------------------------------------------------------


@pytest.mark.django_db  # not transactional: sees the rows `migrate` itself wrote
def test_migrate_creates_a_moderator_group_with_only_the_desks_permissions():
    group = Group.objects.get(name="moderator")
    assert set(group.permissions.values_list("content_type__app_label", "codename")) == {
        ("shares", "view_share"),
        ("shares", "moderate_share"),
        ("shares", "preview_share"),
        ("shares", "view_report"),
        ("shares", "view_moderationevent"),
    }


def test_the_share_list_puts_reported_shares_first_and_shows_no_secrets(
    moderator_client, admin_client, make_share
):
    quiet = make_share(views=3, pin="1234")
    reported = make_share(views=3)
    newest = make_share(views=0)
    report(reported.token)
    response = moderator_client.get("/admin/shares/share/")
    assert response.status_code == 200
    html = response.content.decode()
    rows = list(response.context["cl"].result_list)
    assert rows[0].pk == reported.share.pk
    assert {rows[1].pk, rows[2].pk} == {quiet.share.pk, newest.share.pk}
    assert "1 / 1" in html  # open / all reports
    assert "0 / 3" in html and "0 / ∞" in html  # views used / limit
    as_superuser = admin_client.get("/admin/shares/share/")
    assert as_superuser.status_code == 200
    assert "0 / 3" in as_superuser.content.decode()
    for page in (html, as_superuser.content.decode()):
        for created in (quiet, reported, newest):
            share = Share.objects.get(pk=created.share.pk)
            for secret in (
                created.token,
                created.manage_token,
                share.token_hash,
                share.manage_token_hash,
                share.photos.get().key,
            ):
                assert secret not in page


def test_the_share_list_filters_by_status_and_reports(moderator_client, make_share):
    live = make_share(views=3)
    suspended = make_share(views=0)
    reported = make_share(views=3)
    ended = make_share(views=1)
    report(suspended.token)
    report(reported.token)
    services.share_revoke(manage_token=ended.manage_token)

    def listed(query: str) -> set[int]:
        response = moderator_client.get(f"/admin/shares/share/?{query}")
        assert response.status_code == 200
        return {share.pk for share in response.context["cl"].result_list}

    assert listed("status=live") == {live.share.pk, reported.share.pk}
    assert listed("status=suspended") == {suspended.share.pk}
    assert listed("status=ended") == {ended.share.pk}
    assert listed("reports=open") == {suspended.share.pk, reported.share.pk}
    assert listed("reports=none") == {live.share.pk, ended.share.pk}
    html = moderator_client.get("/admin/shares/share/?status=ended").content.decode()
    assert "ended: deleted by the sender" in html


def test_the_share_page_shows_facts_and_reports_but_no_hashes_and_is_read_only(
    moderator_client, admin_client, make_share
):
    created = make_share(views=3, pin="1234")
    report(created.token, details="this is stolen")
    share = Share.objects.get()
    response = moderator_client.get(f"/admin/shares/share/{share.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "this is stolen" in html
    assert "Preview photo" in html
    for secret in (
        share.token_hash,
        share.manage_token_hash,
        share.pin_hash,
        share.photos.get().key,
        created.token,
    ):
        assert secret not in html
    assert "token_hash" not in html and "photo_key" not in html

    # Not even a superuser can edit a share or read its secrets.
    as_superuser = admin_client.get(f"/admin/shares/share/{share.pk}/change/").content.decode()
    for secret in (
        share.token_hash,
        share.manage_token_hash,
        share.pin_hash,
        share.photos.get().key,
    ):
        assert secret not in as_superuser
    assert 'name="views_used"' not in as_superuser and 'name="_save"' not in as_superuser


def test_the_reports_list_and_the_audit_log_render(moderator_client, make_share):
    created = make_share(views=0)
    report(created.token, reason=ReportReason.MALWARE, details="phishing page")
    reports = moderator_client.get("/admin/shares/report/")
    assert reports.status_code == 200
    html = reports.content.decode()
    assert "malware or phishing" in html and "phishing page" in html and "open" in html
    assert f"share {created.share.pk}" in html
    log = moderator_client.get("/admin/shares/moderationevent/")
    assert log.status_code == 200
    assert "suspended (reports reached the threshold)" in log.content.decode()


def test_the_audit_log_is_read_only_even_for_a_superuser(admin_client, make_share):
    created = make_share(views=0)
    report(created.token)
    event = ModerationEvent.objects.get()
    assert admin_client.get("/admin/shares/moderationevent/add/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/shares/moderationevent/{event.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    page = admin_client.get(f"/admin/shares/moderationevent/{event.pk}/change/")
    assert page.status_code == 200 and 'name="note"' not in page.content.decode()
    assert ModerationEvent.objects.count() == 1


# --- preview ----------------------------------------------------------------------------------


def test_each_photo_of_a_reported_album_previews_and_is_recorded(moderator_client, make_share):
    photos = [jpeg_bytes(size=(80, 60)), png_bytes(), jpeg_bytes(size=(30, 20))]
    created = make_share(views=1, photos=photos, note="look")
    report(created.token)
    share = Share.objects.get()
    page = moderator_client.get(preview_url(share)).content.decode()
    assert "Show photo 1 of 3" in page and "Show photo 3 of 3" in page
    types = []
    for position in (1, 2, 3):
        response = moderator_client.post(preview_url(share), {"photo": str(position)})
        assert response.status_code == 200
        types.append(response["Content-Type"])
        b"".join(response.streaming_content)
    assert types == ["image/jpeg", "image/png", "image/jpeg"]
    assert moderator_client.post(preview_url(share), {"photo": "4"}).status_code == 404
    notes = ModerationEvent.objects.filter(action=ModerationAction.PREVIEWED)
    assert sorted(notes.values_list("note", flat=True)) == [
        "photo 1 of 3",
        "photo 2 of 3",
        "photo 3 of 3",
    ]
    share.refresh_from_db()
    assert share.views_used == 0 and len(stored_keys()) == 3


def test_preview_streams_the_photo_without_spending_a_view_and_is_recorded(
    moderator_client, moderator, make_share, any_storage
):
    created = make_share(views=1, photo=jpeg_bytes(size=(80, 60)))
    report(created.token)
    share = Share.objects.get()
    page = moderator_client.get(preview_url(share))
    assert page.status_code == 200
    assert "Show the photo" in page.content.decode()
    assert not ModerationEvent.objects.filter(action=ModerationAction.PREVIEWED).exists()

    for _ in range(2):
        response = moderator_client.post(preview_url(share))
        assert response.status_code == 200
        assert response["Content-Type"] == "image/jpeg"
        assert "no-store" in response["Cache-Control"]
        assert b"".join(response.streaming_content)[:2] == b"\xff\xd8"

    share.refresh_from_db()
    assert share.views_used == 0 and share.views.count() == 0 and share.ended_at is None
    assert stored_keys() == [share.photos.get().key]
    events = ModerationEvent.objects.filter(action=ModerationAction.PREVIEWED)
    assert events.count() == 2
    assert {(e.actor_id, e.actor_name, e.share_id) for e in events} == {
        (moderator.pk, "mod", share.pk)
    }


# An unreported share cannot be previewed at all: test_encryption.py
# (test_a_reported_share_previews_and_an_unreported_one_cannot_both_audited).


def test_a_non_staff_user_gets_no_preview_but_the_login_page(client, django_user_model, make_share):
    created = make_share(views=0)
    report(created.token)
    share = Share.objects.get()
    for logged_in in (False, True):
        if logged_in:
            client.force_login(django_user_model.objects.create_user("viewer", password="pw"))
        for method in (client.get, client.post):
            response = method(preview_url(share))
            assert response.status_code == 302
            assert response["Location"].startswith("/admin/login/")
    assert not ModerationEvent.objects.filter(action=ModerationAction.PREVIEWED).exists()


def test_a_moderator_without_the_preview_permission_gets_403(
    moderator_client, moderator, make_share
):
    created = make_share(views=0)
    report(created.token)
    share = Share.objects.get()
    moderator.groups.clear()
    moderator.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_share", "moderate_share", "view_report"])
    )
    assert moderator_client.get(preview_url(share)).status_code == 403
    assert moderator_client.post(preview_url(share)).status_code == 403
    assert (
        "Preview photo"
        not in moderator_client.get(f"/admin/shares/share/{share.pk}/change/").content.decode()
    )
    assert not ModerationEvent.objects.filter(action=ModerationAction.PREVIEWED).exists()


def test_preview_of_an_ended_share_is_refused(moderator_client, moderator, make_share):
    created = make_share(views=0)
    report(created.token)
    share = Share.objects.get()
    with time_machine.travel(timezone.now() + timedelta(days=2)):
        moderator_client.force_login(moderator)  # two days on, yesterday's login has ended
        response = moderator_client.post(preview_url(share))
    assert response.status_code == 410
    assert not ModerationEvent.objects.filter(action=ModerationAction.PREVIEWED).exists()


# --- actions ----------------------------------------------------------------------------------


def test_remove_deletes_the_photo_and_keeps_reports_and_audit_rows(
    moderator_client, moderator, make_share, any_storage, django_capture_on_commit_callbacks
):
    created = make_share(views=0)
    report(created.token, details="first")
    share = Share.objects.get()
    moderator_client.post(preview_url(share))
    with django_capture_on_commit_callbacks(execute=True):
        response = moderator_client.post(
            "/admin/shares/share/", {"action": "remove", "_selected_action": [share.pk]}
        )
    assert response.status_code == 302

    share.refresh_from_db()
    assert share.end_reason == EndReason.REMOVED and share.ended_at is not None
    assert share.photo_deleted_at is not None
    assert stored_keys() == []
    kept = Report.objects.get()
    assert (kept.status, kept.resolved_by, kept.share_id) == (
        ReportStatus.ACTIONED,
        "mod",
        share.pk,
    )
    assert list(ModerationEvent.objects.order_by("pk").values_list("action", flat=True)) == [
        ModerationAction.SUSPENDED,
        ModerationAction.PREVIEWED,
        ModerationAction.REMOVED,
    ]
    gone = moderator_client.get(f"/s/{created.token}")
    assert gone.status_code == 410 and "removed by a moderator" in gone.content.decode()


def test_remove_from_the_share_page(
    moderator_client, make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=3)
    share = created.share
    page = moderator_client.get(f"/admin/shares/share/{share.pk}/change/")
    assert 'value="remove"' in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = moderator_client.post(
            f"/admin/shares/share/{share.pk}/change/",
            {"CHANGE_FORM-action": "remove", "_selected_action": [share.pk]},
        )
    assert response.status_code == 302
    assert Share.objects.get().end_reason == EndReason.REMOVED
    assert stored_keys() == []


def test_the_remove_action_ends_every_selected_share_and_deletes_its_photo(
    admin_client, make_share, django_capture_on_commit_callbacks
):
    make_share(views=3)
    make_share(views=1)
    ids = list(Share.objects.values_list("pk", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/shares/share/", {"action": "remove", "_selected_action": ids}
        )
    assert response.status_code == 302
    assert set(Share.objects.values_list("end_reason", flat=True)) == {EndReason.REMOVED}
    assert stored_keys() == []


@contextlib.contextmanager
def s3_requests():
    """The names of the S3 operations the app's client sends meanwhile."""
    client, _bucket = photostore.s3_bucket()
    sent: list[str] = []

    def count(model, **_kwargs):
        sent.append(model.name)

    client.meta.events.register("before-call.s3", count)
    try:
        yield sent
    finally:
        client.meta.events.unregister("before-call.s3", count)


def test_removing_many_shares_is_one_transaction_and_one_delete_request(
    moderator_client, make_share, django_capture_on_commit_callbacks
):
    created = [make_share(views=3) for _ in range(30)]
    for one in created[:5]:
        report(one.token)
    # A view of one of them is being sent when the moderator removes them all.
    streaming = created[7]
    viewed = services.share_view(token=streaming.token)
    first = viewed.stream.read(100)
    ids = [one.share.pk for one in created]

    with (
        s3_requests() as sent,
        CaptureQueriesContext(connection) as queries,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = moderator_client.post(
            "/admin/shares/share/", {"action": "remove", "_selected_action": ids}, follow=True
        )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Removed 30 shares" in page
    assert "1 of those photos is being sent to a viewer right now" in page
    assert sent == ["DeleteObjects"]  # 29 photos, one request
    share_updates = [
        q["sql"] for q in queries.captured_queries if q["sql"].startswith('UPDATE "shares_share"')
    ]
    # ended, key material erased, then photo_deleted_at: not one per share
    assert len(share_updates) == 3

    shares = Share.objects.order_by("pk")
    assert [s.end_reason for s in shares] == [EndReason.REMOVED] * 30
    assert sorted(
        ModerationEvent.objects.filter(action=ModerationAction.REMOVED).values_list(
            "share_id", flat=True
        )
    ) == sorted(ids)
    assert Report.objects.filter(status=ReportStatus.ACTIONED).count() == 5
    assert not Report.objects.filter(status=ReportStatus.OPEN).exists()
    assert stored_keys() == [streaming.share.photos.get().key]
    assert shares.filter(photo_deleted_at__isnull=True).get().pk == streaming.share.pk

    # The viewer gets every byte; the last stream to close deletes the photo.
    rest = viewed.stream.read()
    assert len(first + rest) == streaming.share.photos.get().size_bytes
    viewed.stream.close()
    assert stored_keys() == []
    assert not Share.objects.filter(photo_deleted_at__isnull=True).exists()


def test_removing_shares_that_had_ended_keeps_their_reason_and_says_so(
    moderator, make_share, django_capture_on_commit_callbacks
):
    viewed = make_share(views=1)
    services.share_view(token=viewed.token).stream.close()
    live = make_share(views=3)
    with django_capture_on_commit_callbacks(execute=True):
        result = services.shares_remove(
            share_ids=[viewed.share.pk, live.share.pk, live.share.pk], actor=moderator
        )
    assert [s.pk for s in result.removed] == [viewed.share.pk, live.share.pk]
    assert (result.purged, result.photos_waiting) == ((), 0)
    ended = dict(Share.objects.values_list("pk", "end_reason"))
    assert ended == {viewed.share.pk: EndReason.VIEWED, live.share.pk: EndReason.REMOVED}
    notes = dict(ModerationEvent.objects.values_list("share_id", "note"))
    assert (
        notes[viewed.share.pk] == "0 open reports actioned; it had already ended (all views used)"
    )
    assert notes[live.share.pk] == "0 open reports actioned"
    assert stored_keys() == []


def _purged_first(monkeypatch, name: str, victim: int) -> None:
    """Purge deletes the victim's row after the admin read the list, before the service
    call locks it."""
    real = getattr(services, name)

    def racing(**kwargs):
        Share.objects.filter(pk=victim).delete()
        return real(**kwargs)

    monkeypatch.setattr(services, name, racing)


def test_removing_a_share_purged_meanwhile_says_so(
    moderator_client, make_share, monkeypatch, django_capture_on_commit_callbacks
):
    victim, other = make_share(views=3), make_share(views=3)
    victim_key = victim.share.photos.get().key
    _purged_first(monkeypatch, "shares_remove", victim.share.pk)
    with django_capture_on_commit_callbacks(execute=True):
        response = moderator_client.post(
            "/admin/shares/share/",
            {"action": "remove", "_selected_action": [victim.share.pk, other.share.pk]},
            follow=True,
        )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Removed 1 share" in page
    assert "1 share was already purged" in page
    assert Share.objects.get().end_reason == EndReason.REMOVED
    assert ModerationEvent.objects.get().share_id == other.share.pk
    assert stored_keys() == [victim_key]  # an orphan now, for orphans_purge


def test_removing_the_one_share_of_its_page_when_purged_meanwhile_says_so(
    moderator_client, make_share, monkeypatch
):
    victim = make_share(views=3)
    _purged_first(monkeypatch, "shares_remove", victim.share.pk)
    response = moderator_client.post(
        f"/admin/shares/share/{victim.share.pk}/change/",
        {"CHANGE_FORM-action": "remove", "_selected_action": [victim.share.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert "1 share was already purged" in response.content.decode()
    assert not ModerationEvent.objects.exists()


def test_restoring_a_share_purged_meanwhile_says_so(moderator_client, make_share, monkeypatch):
    victim, other = make_share(views=0), make_share(views=0)
    report(victim.token)
    report(other.token)
    _purged_first(monkeypatch, "share_restore", victim.share.pk)
    response = moderator_client.post(
        "/admin/shares/share/",
        {"action": "restore", "_selected_action": [victim.share.pk, other.share.pk]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert "Restored 1 share" in page
    assert "1 share was already purged" in page
    assert "were not suspended" not in page
    assert Share.objects.get().suspended_at is None


def test_the_moderation_services_answer_share_gone_for_a_purged_row(moderator, make_share):
    created = make_share(views=0)
    report(created.token)
    share_pk = created.share.pk
    Share.objects.filter(pk=share_pk).delete()
    with pytest.raises(services.ShareGone):
        services.share_remove(share_id=share_pk, actor=moderator)
    with pytest.raises(services.ShareGone):
        services.share_restore(share_id=share_pk, actor=moderator)
    result = services.shares_remove(share_ids=[share_pk], actor=moderator)
    assert (result.removed, result.purged) == ((), (share_pk,))
    assert not ModerationEvent.objects.exclude(action=ModerationAction.SUSPENDED).exists()


def test_restore_puts_a_suspended_share_back_online(moderator_client, client, make_share):
    created = make_share(views=0)
    report(created.token)
    share = Share.objects.get()
    response = moderator_client.post(
        "/admin/shares/share/", {"action": "restore", "_selected_action": [share.pk]}
    )
    assert response.status_code == 302
    share.refresh_from_db()
    assert share.suspended_at is None
    assert Report.objects.get().status == ReportStatus.DISMISSED
    assert ModerationEvent.objects.filter(
        action=ModerationAction.RESTORED, actor_name="mod"
    ).exists()
    client.logout()
    assert client.post(f"/s/{created.token}").status_code == 200


def test_dismiss_reports_closes_them_and_records_it(moderator_client, make_share):
    created = make_share(views=3)
    report(created.token)
    share = Share.objects.get()
    response = moderator_client.post(
        "/admin/shares/share/", {"action": "dismiss_reports", "_selected_action": [share.pk]}
    )
    assert response.status_code == 302
    assert Report.objects.get().status == ReportStatus.DISMISSED
    event = ModerationEvent.objects.get()
    assert (event.action, event.actor_name, event.share_id) == (
        ModerationAction.DISMISSED,
        "mod",
        share.pk,
    )
    listed = moderator_client.get("/admin/shares/report/?status=dismissed")
    assert len(listed.context["cl"].result_list) == 1


def test_dismiss_from_the_reports_list(moderator_client, make_share):
    created = make_share(views=3)
    first, second = report(created.token), report(created.token)
    response = moderator_client.post(
        "/admin/shares/report/", {"action": "dismiss", "_selected_action": [first.pk]}
    )
    assert response.status_code == 302
    assert Report.objects.get(pk=first.pk).status == ReportStatus.DISMISSED
    assert Report.objects.get(pk=second.pk).status == ReportStatus.OPEN


def test_a_staff_user_without_the_moderate_permission_has_no_actions(
    client, django_user_model, make_share
):
    created = make_share(views=0)
    report(created.token)
    viewer = django_user_model.objects.create_user("looker", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_share"))
    client.force_login(viewer)
    page = client.get("/admin/shares/share/")
    assert page.status_code == 200
    assert 'value="remove"' not in page.content.decode()
    client.post(
        "/admin/shares/share/", {"action": "remove", "_selected_action": [created.share.pk]}
    )
    assert Share.objects.get().ended_at is None


# --- after purge ------------------------------------------------------------------------------


def test_purge_of_a_reported_share_keeps_its_reports_and_audit_records(
    moderator, make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=0)
    report(created.token, details="kept for the record")
    share_pk = created.share.pk
    services.moderation_preview(share_id=share_pk, actor=moderator).stream.close()
    with django_capture_on_commit_callbacks(execute=True):
        services.share_remove(share_id=share_pk, actor=moderator)

    result = services.shares_purge()
    assert result.shares == 1
    assert not Share.objects.exists()

    kept = Report.objects.get()
    assert kept.share_id is None and kept.share_number == share_pk
    assert kept.details == "kept for the record"
    events = ModerationEvent.objects.all()
    assert events.count() == 3
    assert all(e.share_id is None and e.share_number == share_pk for e in events)


def test_the_admin_lists_records_of_purged_shares(
    moderator_client, moderator, make_share, django_capture_on_commit_callbacks
):
    created = make_share(views=0)
    report(created.token)
    with django_capture_on_commit_callbacks(execute=True):
        services.share_remove(share_id=created.share.pk, actor=moderator)
    services.shares_purge()
    html = moderator_client.get("/admin/shares/report/").content.decode()
    assert f"share {created.share.pk} (purged)" in html
    html = moderator_client.get("/admin/shares/moderationevent/").content.decode()
    assert f"share {created.share.pk} (purged)" in html


def test_reports_on_an_ended_share_are_kept_without_suspending_it(make_share):
    created = make_share(views=1)
    services.share_view(token=created.token)
    report(created.token)
    share = Share.objects.get()
    assert share.suspended_at is None and share.reports.count() == 1
    assert not ModerationEvent.objects.exists()


# --- settings ---------------------------------------------------------------------------------


def _reports_setting(value: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY"}}
    code = (
        "import django; django.setup(); from django.conf import settings;"
        " print(settings.SEEN_REPORTS_TO_SUSPEND)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[2],
        env={
            **env,
            "DEBUG": "true",
            "DJANGO_SETTINGS_MODULE": "seen.settings",
            "SEEN_REPORTS_TO_SUSPEND": value,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_reports_to_suspend_is_empty_for_the_default_or_a_positive_number():
    assert _reports_setting("").stdout.strip() == "None"
    assert _reports_setting("3").stdout.strip() == "3"
    for bad in ("0", "two"):
        result = _reports_setting(bad)
        assert result.returncode != 0 and "SEEN_REPORTS_TO_SUSPEND" in result.stderr


# --- in a real browser ------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")


def in_chromium(steps) -> None:
    """Run `steps(page)` in a fresh headless Chromium, on a thread of its own: another
    test file may hold a Playwright session (and its event loop) on this thread."""
    from playwright.sync_api import sync_playwright

    failures = []

    def run():
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM),
                    args=["--headless", "--no-sandbox", "--disable-gpu"],
                )
                try:
                    steps(browser.new_page())
                finally:
                    browser.close()
        except BaseException as exc:  # re-raised in the test's thread
            failures.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


@pytest.mark.django_db(transaction=True)  # a live server answers from its own thread
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_a_moderator_works_the_desk_in_a_real_browser(live_server, moderator, make_share):
    """The site's no-referrer policy makes browsers send "Origin: null" with form posts,
    which Django's CSRF check refuses: only a real browser shows the admin still works."""
    created = make_share(views=3)
    report(created.token)
    report(created.token)
    share_pk = created.share.pk

    def moderate(page):
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", "mod")
        page.fill("#id_password", "pw")
        page.click("input[type=submit]")
        page.goto(f"{live_server.url}/admin/shares/share/{share_pk}/change/")
        assert "suspended" in page.content()
        page.click("text=Preview photo")
        with page.expect_response(lambda r: r.request.method == "POST") as answer:
            page.click("button:has-text('Show the photo')")
        assert answer.value.status == 200
        assert answer.value.headers["content-type"] == "image/jpeg"
        page.goto(f"{live_server.url}/admin/shares/share/{share_pk}/change/")
        page.select_option("select[name='CHANGE_FORM-action']", "restore")
        page.click("button[name=index]")
        assert page.wait_for_selector("text=Restored 1 share.")

    in_chromium(moderate)
    assert list(ModerationEvent.objects.order_by("pk").values_list("action", "actor_name")) == [
        (ModerationAction.SUSPENDED, "system"),
        (ModerationAction.PREVIEWED, "mod"),
        (ModerationAction.RESTORED, "mod"),
    ]
    share = Share.objects.get()
    assert share.suspended_at is None and share.views_used == 0


def test_a_reported_albums_note_is_shown_escaped_and_recorded(moderator_client, make_share):
    created = make_share(views=1, photos=[jpeg_bytes(), png_bytes()], note="<b>call me</b>\nnow")
    report(created.token)
    share = Share.objects.get()
    assert "Show the note" in moderator_client.get(preview_url(share)).content.decode()
    page = moderator_client.post(preview_url(share), {"note": "1"})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    html = page.content.decode()
    assert "&lt;b&gt;call me&lt;/b&gt;<br>now" in html and "<b>call me</b>" not in html
    event = ModerationEvent.objects.get(action=ModerationAction.PREVIEWED)
    assert event.note == "the note"
    share.refresh_from_db()
    assert share.views_used == 0


def test_an_unreported_note_cannot_be_read_by_a_moderator(moderator_client, make_share):
    make_share(views=1, photos=[jpeg_bytes(), png_bytes()], note="private")
    share = Share.objects.get()
    page = moderator_client.post(preview_url(share), {"note": "1"})
    assert page.status_code == 400 and "private" not in page.content.decode()
    assert ModerationEvent.objects.get().action == ModerationAction.PREVIEW_REFUSED
