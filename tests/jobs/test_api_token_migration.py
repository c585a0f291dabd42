"""The migration that hashes the API tokens DRF's authtoken kept in clear."""

import importlib
from datetime import UTC, datetime

import pytest
from django.apps import apps
from django.db import connection

from jobs import services
from jobs.models import ApiToken

pytestmark = pytest.mark.django_db(transaction=True)

migration = importlib.import_module("jobs.migrations.0012_api_tokens_hashed")


@pytest.fixture
def legacy_table():
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TABLE authtoken_token "
            "(key varchar(40) PRIMARY KEY, user_id integer NOT NULL, created timestamp with time zone)"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE authtoken_token")


def test_keys_in_clear_become_hashes_that_still_sign_in(django_user_model, legacy_table):
    alice = django_user_model.objects.create_user("alice")
    key = "0123456789abcdef0123456789abcdef01234567"
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("INSERT INTO authtoken_token VALUES (%s, %s, %s)", [key, alice.pk, created])
    with connection.schema_editor() as schema_editor:
        migration.hash_legacy_tokens(apps, schema_editor)
    token = ApiToken.objects.get()
    assert (token.user, token.prefix, token.key_hash) == (alice, key[:8], services.token_hash(key))
    assert token.created_at == created
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM authtoken_token")
        assert cursor.fetchone() == (0,)


def test_a_database_without_the_old_table_is_left_alone():
    with connection.schema_editor() as schema_editor:
        migration.hash_legacy_tokens(apps, schema_editor)
    assert not ApiToken.objects.exists()
