"""Sign-in lockout (django-axes) on the site's and the admin's login forms, through real form posts."""

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db

LOGIN_FORMS = ["/accounts/login/", "/admin/login/"]


@pytest.fixture
def people(django_user_model):
    django_user_model.objects.create_superuser("alice", "", "right-horse-battery")
    django_user_model.objects.create_superuser("bob", "", "staple-correct-horse")


def sign_in(url: str, username: str, password: str, address: str):
    # A client per attempt, as a password-guessing script makes: no session carries over.
    return Client(REMOTE_ADDR=address).post(url, {"username": username, "password": password})


def signed_in(response) -> bool:
    return response.status_code == 302 and "/login/" not in response["Location"]


@pytest.mark.parametrize("url", LOGIN_FORMS)
def test_five_failures_lock_the_username_out_even_with_the_right_password(people, url):
    for _ in range(4):
        response = sign_in(url, "alice", "wrong", "10.0.0.1")
        assert response.status_code == 200 and not signed_in(response)
    # The fifth failure locks: its answer already says so.
    assert sign_in(url, "alice", "wrong", "10.0.0.1").status_code == 429
    refused = sign_in(url, "alice", "right-horse-battery", "10.0.0.1")
    assert refused.status_code == 429
    assert "Too many failed sign-ins" in refused.content.decode()
    assert "15 minutes" in refused.content.decode()
    # The username stays locked from another address too.
    assert sign_in(url, "alice", "right-horse-battery", "10.0.0.9").status_code == 429
    # Another user from another address is not affected.
    assert signed_in(sign_in(url, "bob", "staple-correct-horse", "10.0.0.2"))


def test_the_address_is_locked_out_whatever_username_it_tries(people):
    for index in range(5):
        sign_in("/accounts/login/", f"guess-{index}", "wrong", "10.0.0.3")
    assert sign_in("/accounts/login/", "bob", "staple-correct-horse", "10.0.0.3").status_code == 429
    assert signed_in(sign_in("/accounts/login/", "bob", "staple-correct-horse", "10.0.0.4"))


def test_fewer_failures_than_the_limit_then_a_success_start_the_count_again(people):
    for _ in range(4):
        sign_in("/accounts/login/", "alice", "wrong", "10.0.0.5")
    assert signed_in(sign_in("/accounts/login/", "alice", "right-horse-battery", "10.0.0.5"))
    for _ in range(4):
        sign_in("/accounts/login/", "alice", "wrong", "10.0.0.5")
    assert signed_in(sign_in("/accounts/login/", "alice", "right-horse-battery", "10.0.0.5"))


@override_settings(AXES_FAILURE_LIMIT=2)
def test_the_limit_is_a_setting(people):
    for _ in range(2):
        sign_in("/accounts/login/", "alice", "wrong", "10.0.0.6")
    assert sign_in("/accounts/login/", "alice", "right-horse-battery", "10.0.0.6").status_code == 429
