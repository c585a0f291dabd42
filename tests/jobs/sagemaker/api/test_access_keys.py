"""Access keys: the page and the admin that make and revoke them, and how their secrets are kept."""

import json
import re
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from jobs import services
from jobs.models import AccessKey, TeamMember, TeamRole
from jobs.services.access_keys import decrypt_secret
from tests.jobs.sagemaker.api.conftest import Key, sagemaker_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(django_user_model):
    user = django_user_model.objects.create_user("alice")
    TeamMember.objects.create(team=Group.objects.create(name="vision"), user=user, role=TeamRole.VIEWER)
    return user


def test_a_new_keys_secret_is_shown_once(client, alice):
    client.force_login(alice)
    vision = Group.objects.get(name="vision")
    response = client.post(reverse("access-keys"), {"action": "create", "team": vision.pk, "description": "laptop"})
    assert response.status_code == 200
    assert response["Cache-Control"].startswith("max-age=0")
    html = response.content.decode()
    key_id = re.search(r'data-testid="access-key-id">(\w+)<', html).group(1)
    secret = re.search(r'data-testid="secret-access-key">([^<]+)<', html).group(1)
    key = AccessKey.objects.get(access_key_id=key_id)
    assert (key.user, key.team, key.description) == (alice, vision, "laptop")
    assert re.fullmatch(r"AKIA[A-Z2-7]{16}", key_id)
    assert len(secret) == 40
    assert secret not in key.encrypted_secret
    assert decrypt_secret(key.encrypted_secret) == secret
    again = client.get(reverse("access-keys")).content.decode()
    assert key_id in again
    assert secret not in again
    assert 'href="/access-keys/" aria-current="page">Access keys</a>' in again


def test_a_key_may_only_act_in_the_users_own_team(client, alice):
    client.force_login(alice)
    audio = Group.objects.create(name="audio")
    response = client.post(reverse("access-keys"), {"action": "create", "team": audio.pk})
    assert response.status_code == 400
    assert "Choose one of your teams." in response.content.decode()
    response = client.post(reverse("access-keys"), {"action": "create", "team": ""})
    assert response.status_code == 400
    assert "Choose the team that tuning jobs created with this key belong to." in response.content.decode()
    assert not AccessKey.objects.exists()


def test_revoking_a_key(client, alice, django_user_model):
    key, _ = services.access_key_create(user=alice, team=Group.objects.get(name="vision"))
    mallory = django_user_model.objects.create_user("mallory")
    client.force_login(mallory)
    client.post(reverse("access-keys"), {"action": "revoke", "access_key_id": key.access_key_id})
    key.refresh_from_db()
    assert key.revoked_at is None
    client.force_login(alice)
    response = client.post(reverse("access-keys"), {"action": "revoke", "access_key_id": key.access_key_id})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert not services.access_key_revoke(access_key_id=key.access_key_id)


def test_the_page_needs_a_login(client):
    response = client.get(reverse("access-keys"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_an_unknown_action_is_a_clear_error(client, alice):
    client.force_login(alice)
    response = client.post(reverse("access-keys"), {"action": "delete-everything"})
    assert response.status_code == 400
    assert "Unknown action." in response.content.decode()


def test_staff_create_a_key_for_someone_in_the_admin(admin_client, alice):
    vision = Group.objects.get(name="vision")
    url = reverse("admin:jobs_accesskey_add")
    response = admin_client.post(url, {"user": alice.pk, "team": "", "description": "ci"})
    assert response.status_code == 200
    assert "Choose the team that tuning jobs created with this key belong to." in response.content.decode()
    response = admin_client.post(url, {"user": alice.pk, "team": vision.pk, "description": "ci"}, follow=True)
    key = AccessKey.objects.get()
    shown = [str(message) for message in response.context["messages"]]
    secret = re.search(r"shown only this once: (\S+)", " ".join(shown)).group(1)
    assert decrypt_secret(key.encrypted_secret) == secret
    assert (key.user, key.team) == (alice, vision)


def test_secrets_survive_a_secret_key_rotation_through_the_fallbacks(settings, alice):
    key, secret = services.access_key_create(user=alice, team=Group.objects.get(name="vision"))
    old = settings.SECRET_KEY
    settings.SECRET_KEY = "a-new-secret-key-" + "x" * 40
    assert decrypt_secret(key.encrypted_secret) is None
    settings.SECRET_KEY_FALLBACKS = [old]
    assert decrypt_secret(key.encrypted_secret) == secret


def create_access_key(*args, **options) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("create_access_key", *args, stdout=out, stderr=err, **options)
    assert err.getvalue().strip() == "The secret is shown this once: Tuneboard cannot show it again."
    return out.getvalue(), err.getvalue()


def test_the_command_prints_a_key_that_signs_requests(live_server, alice):
    out, _ = create_access_key("alice", description="CI")
    printed = json.loads(out)["AccessKey"]
    assert set(printed) == {"UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"}
    assert (printed["UserName"], printed["Status"]) == ("alice", "Active")
    key = AccessKey.objects.get(access_key_id=printed["AccessKeyId"])
    assert (key.user, key.team.name, key.description) == (alice, "vision", "CI")
    assert decrypt_secret(key.encrypted_secret) == printed["SecretAccessKey"]
    client = sagemaker_client(live_server.url, Key(printed["AccessKeyId"], printed["SecretAccessKey"]))
    assert client.list_hyper_parameter_tuning_jobs()["HyperParameterTuningJobSummaries"] == []

    out, _ = create_access_key("alice", env=True)
    lines = dict(line.split("=", 1) for line in out.splitlines())
    assert set(lines) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}
    key = AccessKey.objects.get(access_key_id=lines["AWS_ACCESS_KEY_ID"])
    assert decrypt_secret(key.encrypted_secret) == lines["AWS_SECRET_ACCESS_KEY"]


def command_error(*args, **options) -> str:
    with pytest.raises(CommandError) as caught:
        call_command("create_access_key", *args, stdout=StringIO(), stderr=StringIO(), **options)
    return str(caught.value)


def test_the_command_says_what_is_wrong(alice, django_user_model):
    assert command_error("nobody") == "No user named 'nobody'."
    assert command_error("alice", team="audio") == "--team: no team named 'audio'."
    audio = Group.objects.create(name="audio")
    assert command_error("alice", team="audio") == "alice is not a member of audio."
    TeamMember.objects.create(team=audio, user=alice, role=TeamRole.OPERATOR)
    assert command_error("alice") == "alice is in several teams (audio, vision): choose one with --team."
    django_user_model.objects.create_user("dave")
    assert command_error("dave") == "dave is in no team: add them to one first (a key acts in one of its user's teams)."
    django_user_model.objects.create_user("erin", is_active=False)
    assert command_error("erin") == "erin is inactive: the endpoint refuses the keys of inactive users."
    assert not AccessKey.objects.exists()

    create_access_key("alice", team="audio")
    assert AccessKey.objects.get().team == audio
    staff = django_user_model.objects.create_user("root", is_staff=True)
    create_access_key("root")
    assert (AccessKey.objects.get(user=staff).team, AccessKey.objects.count()) == (None, 2)
