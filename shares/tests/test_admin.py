import pytest
import time_machine
from asgiref.sync import async_to_sync
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test import Client

from seen.sessions import SessionStore, key_digest
from shares.models import Share

pytestmark = pytest.mark.django_db


# The share list and page, their secrets and the remove action are moderation's: see
# test_moderation.py. Here: the admin as an oracle, and its sessions.


# --- filters: only the admin's own --------------------------------------------------------


def secret_lookups(share: Share) -> list[str]:
    """Query strings that would read a secret column, one character at a time or whole."""
    return [
        f"/admin/shares/share/?pin_hash__startswith={share.pin_hash[:7]}",
        f"/admin/shares/share/?token_hash={share.token_hash}",
        f"/admin/shares/share/?token_hash__exact={share.token_hash}",
        f"/admin/shares/share/?manage_token_hash__startswith={share.manage_token_hash[:1]}",
        f"/admin/shares/share/?photos__key__startswith={share.photos.get().key[:8]}",
        f"/admin/shares/share/?photos__key__regex=^{share.photos.get().key[:8]}",
        # A filter's name with another lookup is not the filter.
        f"/admin/shares/share/?content_type__startswith={share.photos.get().content_type[:3]}",
        f"/admin/shares/share/?status=live&pin_hash__gt={share.pin_hash[:3]}",
        f"/admin/shares/report/?share__token_hash={share.token_hash}",
        f"/admin/shares/report/?share__pin_hash__startswith={share.pin_hash[:7]}",
        "/admin/shares/report/?details__contains=a",
        f"/admin/shares/moderationevent/?share__photos__key__startswith={share.photos.get().key[:8]}",
        "/admin/auth/user/?password__startswith=pbkdf2",
        "/admin/auth/group/?permissions__codename__startswith=pre",
        # Nor may a popup pick rows by a secret column (DisallowedModelAdminToField).
        "/admin/shares/share/?_to_field=token_hash&_popup=1",
    ]


def test_a_filter_on_a_secret_column_is_refused_not_answered(admin_client, make_share):
    created = make_share(views=3, pin="4821")
    share = Share.objects.get()
    for url in secret_lookups(share):
        response = admin_client.get(url)
        # Not a filtered list (whose row count would answer the question): Django's
        # DisallowedModelAdminLookup, a SuspiciousOperation, answered with 400.
        assert response.status_code == 400, url
        html = response.content.decode()
        assert "results" not in html and created.token not in html, url


def test_a_moderator_cannot_use_the_admin_as_an_oracle_either(moderator_client, make_share):
    make_share(pin="4821")
    share = Share.objects.get()
    assert moderator_client.get("/admin/shares/share/").status_code == 200
    for url in secret_lookups(share)[:6]:
        assert moderator_client.get(url).status_code == 400, url


def listed(client, url: str) -> int:
    response = client.get(url)
    assert response.status_code == 200, url
    return response.context["cl"].result_count


def test_the_admins_own_filters_still_work(admin_client, make_share):
    make_share(pin="4821")
    make_share()
    share = Share.objects.order_by("pk").first()
    year, month, day = share.created_at.year, share.created_at.month, share.created_at.day
    assert listed(admin_client, "/admin/shares/share/") == 2
    assert listed(admin_client, "/admin/shares/share/?pin=yes") == 1
    assert listed(admin_client, "/admin/shares/share/?status=live&reports=none&pin=no") == 1
    assert listed(admin_client, "/admin/shares/share/?status=ended") == 0
    assert listed(admin_client, "/admin/shares/share/?status=ended&pin=yes") == 0
    hierarchy = f"created_at__year={year}&created_at__month={month}&created_at__day={day}"
    assert listed(admin_client, f"/admin/shares/share/?{hierarchy}") == 2
    assert listed(admin_client, f"/admin/shares/share/?created_at__year={year - 1}") == 0
    # Sorting, paging and searching are not filters, and stay available.
    assert listed(admin_client, "/admin/shares/share/?o=4&p=1") == 2
    assert listed(admin_client, "/admin/shares/report/?status__exact=open&reason__isnull=0") == 0
    assert listed(admin_client, f"/admin/shares/report/?created_at__year={year}") == 0
    # The share list's "reports" column links here by share id.
    assert listed(admin_client, f"/admin/shares/report/?share_number={share.pk}") == 0
    assert listed(admin_client, "/admin/shares/report/?status=open") == 0
    assert listed(admin_client, "/admin/shares/moderationevent/?action__exact=remove") == 0
    assert listed(admin_client, "/admin/auth/user/?is_staff__exact=1&groups__isnull=True") == 1
    assert listed(admin_client, "/admin/auth/user/?q=admin") == 1


SECRET_COLUMNS = {"token_hash", "manage_token_hash", "pin_hash", "key", "password"}


def test_no_admin_searches_or_lists_a_secret_column(rf, admin_user):
    from django.contrib import admin

    request = rf.get("/admin/")
    request.user = admin_user
    for model, model_admin in admin.site._registry.items():
        searched = {
            part
            for field in model_admin.get_search_fields(request)
            for part in field.lstrip("^=@").split("__")
        }
        shown = set(map(str, model_admin.get_list_display(request)))
        assert not (searched | shown) & SECRET_COLUMNS, model.__name__


# --- sessions: the database keeps digests, not keys ---------------------------------------


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("boss", password="correct horse")


def log_in(client) -> str:
    """Sign in through the login form, as a person does; the session cookie's value."""
    response = client.post(
        "/admin/login/?next=/admin/", {"username": "boss", "password": "correct horse"}
    )
    assert response.status_code == 302 and response["Location"] == "/admin/"
    return client.cookies[django_settings.SESSION_COOKIE_NAME].value


def stored_session_keys() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT session_key FROM django_session")
        return [row[0] for row in cursor.fetchall()]


def signed_in(cookie_value: str) -> bool:
    browser = Client()
    browser.cookies[django_settings.SESSION_COOKIE_NAME] = cookie_value
    response = browser.get("/admin/")
    if response.status_code == 302:
        assert response["Location"].startswith("/admin/login/")
        return False
    assert response.status_code == 200
    return True


def test_a_session_key_copied_from_the_database_opens_nothing(client, staff):
    cookie = log_in(client)
    [stored] = stored_session_keys()
    assert stored == key_digest(cookie) and len(stored) == 40 and stored != cookie
    assert not signed_in(stored)  # sent as the cookie, it is hashed again and finds nothing
    assert signed_in(cookie)


def test_signing_in_gives_a_new_key_and_keeps_what_the_session_held(client, staff):
    before = SessionStore()
    before["draft"] = "kept"
    before.create()
    client.cookies[django_settings.SESSION_COOKIE_NAME] = before.session_key
    cookie = log_in(client)
    assert cookie != before.session_key  # cycle_key: a key known before login is useless
    assert stored_session_keys() == [key_digest(cookie)]
    assert not signed_in(before.session_key)
    assert SessionStore(cookie)["draft"] == "kept"


def test_signing_out_deletes_the_row(client, staff):
    cookie = log_in(client)
    assert client.post("/admin/logout/").status_code == 200
    assert stored_session_keys() == []
    assert not signed_in(cookie)


def test_an_admin_session_ends_its_age_after_signing_in(client, staff, settings):
    settings.SESSION_COOKIE_AGE = 3600  # as SEEN_ADMIN_SESSION_AGE=3600 sets it
    with time_machine.travel("2026-12-02 08:00:00Z", tick=False) as clock:
        cookie = log_in(client)
        assert client.cookies[django_settings.SESSION_COOKIE_NAME]["max-age"] == 3600
        clock.shift(3500)
        assert signed_in(cookie)  # browsing does not push the end back...
        assert client.get("/admin/shares/share/").status_code == 200
        clock.shift(200)
        assert not signed_in(cookie)  # ...so it ends an hour after signing in


def test_clearsessions_removes_only_expired_rows(staff):
    live, expired = SessionStore(), SessionStore()
    live["n"], expired["n"] = 1, 2
    live.create()
    expired.set_expiry(-1)
    expired.create()
    assert len(stored_session_keys()) == 2
    call_command("clearsessions")
    assert stored_session_keys() == [key_digest(live.session_key)]
    assert SessionStore(live.session_key)["n"] == 1


def test_the_store_finds_saves_and_deletes_by_digest_sync_and_async():
    store = SessionStore()
    store["n"] = 1
    store.save()
    key = store.session_key
    assert store.exists(key) and not store.exists(key_digest(key))
    store["n"] = 2
    store.save()  # an update of the same row, not a second one
    assert stored_session_keys() == [key_digest(key)]

    async def in_async_code() -> tuple:
        found = SessionStore(key)
        loaded = await found.aload()
        exists = await found.aexists(key), await found.aexists(key_digest(key))
        await found.aset("n", 3)
        await found.asave()
        await found.acycle_key()
        cycled = found.session_key
        await found.adelete()
        return loaded, exists, cycled

    loaded, exists, cycled = async_to_sync(in_async_code)()
    assert loaded == {"n": 2} and exists == (True, False)
    assert cycled != key and stored_session_keys() == []
    assert SessionStore(key).load() == {} and SessionStore().load() == {}
