import pytest

from shares.models import EndReason, Share

from .conftest import stored_keys

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_admin_lists_shares_without_secrets(admin_client, make_share):
    created = make_share(views=3, pin="1234")
    response = admin_client.get("/admin/shares/share/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "0 / 3" in html
    share = Share.objects.get()
    assert share.token_hash not in html
    assert created.token not in html


def test_the_admin_change_page_is_read_only_and_shows_no_hashes(admin_client, make_share):
    make_share(pin="1234")
    share = Share.objects.get()
    html = admin_client.get(f"/admin/shares/share/{share.pk}/change/").content.decode()
    for secret in (share.token_hash, share.manage_token_hash, share.pin_hash, share.photo_key):
        assert secret not in html
    assert 'name="views_used"' not in html and 'name="_save"' not in html


def test_the_remove_action_ends_shares_and_deletes_photos(admin_client, make_share):
    make_share(views=3)
    make_share(views=1)
    ids = list(Share.objects.values_list("pk", flat=True))
    response = admin_client.post(
        "/admin/shares/share/", {"action": "remove", "_selected_action": ids}
    )
    assert response.status_code == 302
    assert set(Share.objects.values_list("end_reason", flat=True)) == {EndReason.REMOVED}
    assert stored_keys() == []


def test_the_admin_filters_by_status(admin_client, make_share):
    make_share()
    assert admin_client.get("/admin/shares/share/?status=live").status_code == 200
    assert admin_client.get("/admin/shares/share/?status=ended&pin=yes").status_code == 200
