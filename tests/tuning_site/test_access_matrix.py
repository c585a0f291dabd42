"""The access matrix: every endpoint, as every role, against one declared table (docs/security.md).

The endpoints are read from the code, not listed by hand: every pattern
Django's resolver serves (the admin and the DRF router's routes included),
every method a DRF view answers (and OPTIONS), every websocket route of jobs.routing and
every operation /sagemaker dispatches (its OPERATIONS table). Each must have
a rule here, and each rule must name an endpoint that exists: a new endpoint
without a declared policy fails the suite.

Adding an endpoint: run this file; the failure names what has no rule (the
route as the resolver prints it, regex anchors dropped, with the method; or
the operation, or the websocket route). Add a rule to HTTP, SAGEMAKER or
WEBSOCKET with the outcome each role must get: OK (a 2xx, or a redirect that
is not to a login page), LOGIN (a redirect to a login page) or a status code
for pages and the REST API; "ok" or the AWS error's __type on /sagemaker;
refused or accepted for a socket. Give a body (or a query) where the request
needs one to succeed for the roles allowed. A route's `<name>` is filled in
by the path segment before it (`_concrete`): team vision's tuning job under
tuning-jobs/, its claimed training job under training-jobs/ and trainer/;
a rule's `name` names another (an ended job, a completed training job).
A new ModelAdmin is one `admin_model("app/model")` line (and an object of
it in `_build`).

Besides the table: every request that names team vision or its jobs is also
sent naming nothing that exists (`missing`), and to the roles outside the
team both must be answered alike, status and body; no answer to them may
show a name of the team's jobs they did not ask for. No answer shows an
algorithm's command to a role that may not change algorithms, and no
request that changes something succeeds without its CSRF token.

The data is built once for the module and committed; each role's request
runs in a savepoint rolled back after it, so a stop or a create by one role
leaves the next role the same world. No worker runs: what a request would
dispatch is only a row.
"""

import asyncio
import dataclasses
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.core.management.color import no_style
from django.db import connection, transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from analytics.models import ReviewNote
from jobs import realtime, services
from jobs.backends.metrics import MetricRecord
from jobs.models import AccessKey, ApiToken, MetricSample, TeamMember, TeamRole, TrainingJob, TuningJob
from jobs.routing import websocket_urlpatterns
from jobs.sagemaker.api.operations import OPERATIONS
from tests.jobs.factories import (
    LEARNING_RATE,
    OPTIMIZER,
    external_tuning_job,
    register_algorithm,
    run,
    tuning_job_config,
)
from tests.jobs.sagemaker.api.conftest import create_request, register_image
from tuning_site.asgi import application

ROLES = ("anonymous", "no_team", "other_team", "viewer", "operator", "staff", "superuser")
OK = "ok"
LOGIN = "login"
# Team vision's jobs are named with this prefix; no answer to a role outside the team may show one it did not ask for.
SECRET = "secret-"
TUNING_JOB = f"{SECRET}tj"
ENDED_TUNING_JOB = f"{SECRET}done"
# The first training job of TUNING_JOB, the one a trainer claimed.
TRAINING_JOB = f"{TUNING_JOB}-001"
# A training job of ENDED_TUNING_JOB that completed: one a team may choose.
COMPLETED_TRAINING_JOB = f"{ENDED_TUNING_JOB}-001"
TEAM = "team-vision"
OUTSIDERS = ("anonymous", "no_team", "other_team")
# The programs the world's algorithms run: their paths are shown only to who may change algorithms.
COMMAND = Path("/srv/command-shown-to-algorithm-editors/train.py")
MAY_CHANGE_ALGORITHMS = ("superuser",)


def missing(text: str) -> str:
    """`text` with the names of team vision and of its jobs replaced by names nobody has."""
    return text.replace(SECRET, "no-such-").replace(TEAM, "team-nobody")


def expect(anonymous, no_team, other_team, viewer, operator, staff, superuser) -> dict:
    return dict(zip(ROLES, (anonymous, no_team, other_team, viewer, operator, staff, superuser), strict=True))


EVERYONE = expect(OK, OK, OK, OK, OK, OK, OK)
SIGNED_IN = expect(LOGIN, OK, OK, OK, OK, OK, OK)
SIGNED_IN_API = expect(401, OK, OK, OK, OK, OK, OK)
TEAM_READS = expect(LOGIN, 404, 404, OK, OK, OK, OK)
TEAM_READS_JSON = expect(401, 404, 404, OK, OK, OK, OK)
TEAM_OPERATES = expect(LOGIN, 404, 404, 403, OK, OK, OK)
TEAM_OPERATES_API = expect(401, 404, 404, 403, OK, OK, OK)
# Only operators (of any team) and staff open the create form; the other team's operator is one.
CREATORS = expect(LOGIN, 403, OK, 403, OK, OK, OK)
STAFF_ONLY = expect(LOGIN, 403, 403, 403, 403, OK, OK)
# Registering or changing an algorithm is a permission of its own: staff without it may not.
ALGORITHM_WRITE = expect(401, 403, 403, 403, 403, 403, OK)
# The trainer API takes a training job's token only; no user's session or token works there.
TRAINER_ONLY = expect(401, 401, 401, 401, 401, 401, 401)
NOBODY = expect(405, 405, 405, 405, 405, 405, 405)
ADMIN_INDEX = expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, OK, OK)
# Model pages of the admin need the model's permissions, which the staff user here lacks.
ADMIN_MODEL = expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, OK)
ADMIN_READ_ONLY_ADD = expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 403)
# An object's bare admin URL redirects to its change page, which then decides.
ADMIN_REDIRECT = expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, OK, OK)
ADMIN_NOT_FOUND = expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 404, 404)


@dataclass(frozen=True)
class Rule:
    expected: dict
    # A form body (pages) or a JSON body (the REST API) that succeeds for the roles allowed.
    data: dict | None = None
    query: dict | None = None
    json: bool = False
    # The object the route's <name> names, where not the one `_concrete` takes by the path.
    name: str | None = None


def admin_model(app_model: str, *, add=ADMIN_MODEL) -> dict:
    """The six routes of a ModelAdmin; `add` for the read-only ones, whose add page nobody opens."""
    base = f"admin/{app_model}/"
    return {
        (base, "GET"): Rule(ADMIN_MODEL),
        (f"{base}add/", "GET"): Rule(add),
        (f"{base}<path:object_id>/history/", "GET"): Rule(ADMIN_MODEL),
        (f"{base}<path:object_id>/delete/", "GET"): Rule(ADMIN_MODEL),
        (f"{base}<path:object_id>/change/", "GET"): Rule(ADMIN_MODEL),
        (f"{base}<path:object_id>/", "GET"): Rule(ADMIN_REDIRECT),
    }


def _algorithm_body(name: str) -> dict:
    return {
        "name": name,
        "command": ["/usr/bin/true"],
        "metric_definitions": [{"Name": "loss", "Regex": "loss=(\\S+)"}],
    }


_TUNING_JOB_BODY = {
    "name": "new-job",
    "algorithm": "quadratic",
    "team": TEAM,
    "objective_metric_name": "validation:accuracy",
    "objective_type": "Maximize",
    "parameter_ranges": [LEARNING_RATE, OPTIMIZER],
    "max_training_jobs": 2,
    "max_parallel_training_jobs": 1,
    # Naming a parent is a lookup too: another team's answers as a missing one.
    "warm_start_type": "TransferLearning",
    "warm_start_parents": [ENDED_TUNING_JOB],
}

HTTP: dict[tuple[str, str], Rule] = {
    ("favicon.ico", "GET"): Rule(EVERYONE),
    ("accounts/login/", "GET"): Rule(EVERYONE),
    ("accounts/logout/", "GET"): Rule(NOBODY),
    ("accounts/logout/", "POST"): Rule(expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, LOGIN)),
    # Pages.
    # Lists and searches name the team's job too: an outsider's answer is the one for a name nobody has.
    ("", "GET"): Rule(SIGNED_IN, query={"q": TUNING_JOB}),
    # Started from team vision's ended job (?clone=, ?warm_start=): to the other team's operator, a job
    # that does not exist.
    ("new/", "GET"): Rule(expect(LOGIN, 403, 404, 403, OK, OK, OK), query={"warm_start": ENDED_TUNING_JOB}),
    # Naming team vision: refused to the other team's operator as a team that does not exist.
    ("new/", "POST"): Rule(CREATORS, data={"team_name": TEAM}),
    ("import/sagemaker/", "GET"): Rule(STAFF_ONLY),
    # An incomplete form: answered with its errors, no AWS call.
    ("import/sagemaker/", "POST"): Rule(STAFF_ONLY, data={}),
    ("tuning-jobs/<str:name>/", "GET"): Rule(TEAM_READS),
    ("tuning-jobs/<str:name>/summary.json", "GET"): Rule(TEAM_READS_JSON),
    ("tuning-jobs/<str:name>/curves.json", "GET"): Rule(TEAM_READS_JSON),
    ("tuning-jobs/<str:name>/training-jobs/", "GET"): Rule(TEAM_READS_JSON),
    ("tuning-jobs/<str:name>/stop/", "POST"): Rule(TEAM_OPERATES, data={}),
    ("training-jobs/<str:name>/", "GET"): Rule(TEAM_READS),
    ("training-jobs/<str:name>/metrics.json", "GET"): Rule(TEAM_READS_JSON),
    ("training-jobs/<str:name>/log", "GET"): Rule(TEAM_READS_JSON),
    ("training-jobs/<str:name>/log.txt", "GET"): Rule(TEAM_READS),
    ("training-jobs/<str:name>/model.tar.gz", "GET"): Rule(TEAM_READS),
    ("access-keys/", "GET"): Rule(SIGNED_IN),
    # A key for team vision: its members (a viewer's key still reads) and staff.
    ("access-keys/", "POST"): Rule(expect(LOGIN, 400, 400, OK, OK, OK, OK), data={"action": "create", "team": TEAM}),
    # Analytics pages and exports; any member may add a review note (analytics.services.review_note_add).
    ("analytics/compare/", "GET"): Rule(TEAM_READS, query={"jobs": [TUNING_JOB, ENDED_TUNING_JOB]}),
    ("analytics/tuning-jobs/<str:name>/analysis/", "GET"): Rule(TEAM_READS),
    ("analytics/tuning-jobs/<str:name>/report/", "GET"): Rule(TEAM_READS),
    ("analytics/tuning-jobs/<str:name>/report/", "POST"): Rule(TEAM_READS, data={"text": "a note"}),
    ("analytics/tuning-jobs/<str:name>/analytics.csv", "GET"): Rule(TEAM_READS),
    ("analytics/tuning-jobs/<str:name>/analytics.json", "GET"): Rule(TEAM_READS),
    # The team's decision is its operators'; a note on a training job, any member's.
    ("analytics/training-jobs/<str:name>/choose/", "POST"): Rule(
        TEAM_OPERATES, data={"reason": "the best"}, name=COMPLETED_TRAINING_JOB
    ),
    ("analytics/tuning-jobs/<str:name>/decision/withdraw/", "POST"): Rule(TEAM_OPERATES, data={}),
    ("analytics/training-jobs/<str:name>/notes/", "POST"): Rule(TEAM_READS, data={"text": "a note"}),
    # The REST API.
    ("api/v1/", "GET"): Rule(SIGNED_IN_API),
    ("api/v1/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/algorithms/", "GET"): Rule(SIGNED_IN_API),
    ("api/v1/algorithms/", "POST"): Rule(ALGORITHM_WRITE, data=_algorithm_body("new-algorithm"), json=True),
    ("api/v1/algorithms/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/algorithms/<name>/", "GET"): Rule(SIGNED_IN_API),
    ("api/v1/algorithms/<name>/", "PUT"): Rule(ALGORITHM_WRITE, data=_algorithm_body("spare"), json=True),
    ("api/v1/algorithms/<name>/", "PATCH"): Rule(ALGORITHM_WRITE, data={"description": "changed"}, json=True),
    ("api/v1/algorithms/<name>/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/", "GET"): Rule(SIGNED_IN_API, query={"name_contains": TUNING_JOB}),
    # A job in team vision, warm-started from its ended job: its operators and staff. Its viewer is told
    # to be an operator; to outsiders team and parent do not exist (field errors, 400).
    ("api/v1/tuning-jobs/", "POST"): Rule(expect(401, 400, 400, 400, OK, OK, OK), data=_TUNING_JOB_BODY, json=True),
    ("api/v1/tuning-jobs/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/<name>/", "GET"): Rule(TEAM_READS_JSON),
    ("api/v1/tuning-jobs/<name>/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/<name>/claim/", "POST"): Rule(TEAM_OPERATES_API, json=True),
    ("api/v1/tuning-jobs/<name>/claim/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/<name>/stop/", "POST"): Rule(TEAM_OPERATES_API, json=True),
    ("api/v1/tuning-jobs/<name>/stop/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/<name>/training-jobs/", "GET"): Rule(TEAM_READS_JSON),
    ("api/v1/tuning-jobs/<name>/training-jobs/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/<str:name>/analytics/", "GET"): Rule(TEAM_READS_JSON),
    ("api/v1/tuning-jobs/<str:name>/analytics/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/<str:name>/importance/", "GET"): Rule(TEAM_READS_JSON),
    ("api/v1/tuning-jobs/<str:name>/importance/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/tuning-jobs/<str:name>/decision/", "GET"): Rule(TEAM_READS_JSON),
    ("api/v1/tuning-jobs/<str:name>/decision/", "PUT"): Rule(
        TEAM_OPERATES_API,
        data={"training_job": COMPLETED_TRAINING_JOB, "reason": "the best"},
        json=True,
        name=ENDED_TUNING_JOB,
    ),
    ("api/v1/tuning-jobs/<str:name>/decision/", "DELETE"): Rule(TEAM_OPERATES_API, json=True),
    ("api/v1/tuning-jobs/<str:name>/decision/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/training-jobs/<name>/", "GET"): Rule(TEAM_READS_JSON),
    ("api/v1/training-jobs/<name>/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/training-jobs/<name>/metrics/", "GET"): Rule(TEAM_READS_JSON),
    ("api/v1/training-jobs/<name>/metrics/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/training-jobs/<name>/stop/", "POST"): Rule(TEAM_OPERATES_API, json=True),
    ("api/v1/training-jobs/<name>/stop/", "OPTIONS"): Rule(SIGNED_IN_API),
    ("api/v1/trainer/<str:name>/", "GET"): Rule(TRAINER_ONLY),
    ("api/v1/trainer/<str:name>/", "OPTIONS"): Rule(TRAINER_ONLY),
    ("api/v1/trainer/<str:name>/metrics/", "POST"): Rule(TRAINER_ONLY, data={"samples": []}, json=True),
    ("api/v1/trainer/<str:name>/metrics/", "OPTIONS"): Rule(TRAINER_ONLY),
    ("api/v1/trainer/<str:name>/heartbeat/", "POST"): Rule(TRAINER_ONLY, json=True),
    ("api/v1/trainer/<str:name>/heartbeat/", "OPTIONS"): Rule(TRAINER_ONLY),
    ("api/v1/trainer/<str:name>/finish/", "POST"): Rule(TRAINER_ONLY, data={"status": "Completed"}, json=True),
    ("api/v1/trainer/<str:name>/finish/", "OPTIONS"): Rule(TRAINER_ONLY),
    # The schema and its docs describe the code, the same for everyone, and hold no data.
    ("api/schema/", "GET"): Rule(EVERYONE),
    ("api/schema/", "OPTIONS"): Rule(EVERYONE),
    ("api/docs/", "GET"): Rule(EVERYONE),
    # Pages for a browser: no DRF metadata (Swagger UI's page failed to render it, a 500).
    ("api/docs/", "OPTIONS"): Rule(NOBODY),
    ("api/redoc/", "GET"): Rule(EVERYONE),
    ("api/redoc/", "OPTIONS"): Rule(NOBODY),
    # A browser's session is no credential on /sagemaker: every role gets AWS's error (the roles'
    # signed requests are in SAGEMAKER).
    ("sagemaker|/", "POST"): Rule(expect(403, 403, 403, 403, 403, 403, 403), data={}, json=True),
    # The admin.
    ("admin/", "GET"): Rule(ADMIN_INDEX),
    ("admin/login/", "GET"): Rule(EVERYONE),
    # Who is not staff is sent to the admin's index (and from there to its login).
    ("admin/logout/", "GET"): Rule(expect(OK, OK, OK, OK, OK, 405, 405)),
    ("admin/password_change/", "GET"): Rule(ADMIN_INDEX),
    ("admin/password_change/done/", "GET"): Rule(ADMIN_INDEX),
    # Without a model to complete: refused even to the superuser.
    ("admin/autocomplete/", "GET"): Rule(expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 403, 403)),
    ("admin/jsi18n/", "GET"): Rule(ADMIN_INDEX),
    # A tuning job has no page of its own on the site to send to.
    ("admin/r/<path:content_type_id>/<path:object_id>/", "GET"): Rule(ADMIN_NOT_FOUND),
    # An app's index is hidden (404) from staff without a permission in it.
    ("admin/<app_label>/", "GET"): Rule(expect(LOGIN, LOGIN, LOGIN, LOGIN, LOGIN, 404, OK)),
    ("admin/<url>", "GET"): Rule(ADMIN_NOT_FOUND),
    ("admin/auth/user/<id>/password/", "GET"): Rule(ADMIN_MODEL),
    **admin_model("auth/user"),
    **admin_model("auth/group"),
    **admin_model("axes/accessattempt", add=ADMIN_READ_ONLY_ADD),
    **admin_model("axes/accesslog", add=ADMIN_READ_ONLY_ADD),
    **admin_model("axes/accessfailurelog", add=ADMIN_READ_ONLY_ADD),
    **admin_model("jobs/algorithm"),
    **admin_model("jobs/tuningjob", add=ADMIN_READ_ONLY_ADD),
    **admin_model("jobs/trainingjob", add=ADMIN_READ_ONLY_ADD),
    **admin_model("jobs/metricsample", add=ADMIN_READ_ONLY_ADD),
    **admin_model("jobs/accesskey"),
    **admin_model("jobs/apitoken"),
    **admin_model("analytics/reviewnote", add=ADMIN_READ_ONLY_ADD),
}


# --- what the code serves ---------------------------------------------------------------------------


def _route_key(route: str) -> str:
    """A resolver route as the table writes it: regex groups as <name>, anchors dropped."""
    return re.sub(r"\(\?P<(\w+)>[^)]*\)", r"<\1>", route).replace("^", "").replace("$", "")


def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield _route_key(prefix + str(pattern.pattern)), pattern


def served_routes() -> dict[str, URLPattern]:
    walked = list(_walk(get_resolver().url_patterns))
    routes = dict(walked)
    # Two patterns of one route would share a rule, and the second is never reached.
    assert len(routes) == len(walked), sorted(route for route, _ in walked if [r for r, _ in walked].count(route) > 1)
    return routes


def rest_methods(pattern: URLPattern) -> set[str] | None:
    """The methods a DRF view answers (a viewset's routed actions, an APIView's handlers, and DRF's OPTIONS);
    None for other views. HEAD is GET without the body: not walked."""
    view_class = getattr(pattern.callback, "cls", None)
    if view_class is None or not issubclass(view_class, APIView):
        return None
    actions = getattr(pattern.callback, "actions", None)
    if actions is None:
        actions = [name for name in view_class.http_method_names if hasattr(view_class, name)]
    return {method.upper() for method in actions if method != "head"} | {"OPTIONS"}


def test_every_served_route_and_rest_operation_has_a_rule_and_every_rule_an_endpoint():
    routes = served_routes()
    declared_routes = {route for route, _ in HTTP}
    assert sorted(set(routes) - declared_routes) == [], "routes without a rule in HTTP"
    assert sorted(declared_routes - set(routes)) == [], "rules for routes that no longer exist"
    for route, pattern in routes.items():
        methods = rest_methods(pattern)
        if methods is not None:
            declared = {method for key, method in HTTP if key == route}
            assert declared == methods, f"{route}: the view answers {sorted(methods)}, the table has {sorted(declared)}"


# --- the world --------------------------------------------------------------------------------------


@dataclass
class World:
    sessions: dict[str, str | None]
    keys: dict[str, tuple[str, str] | None]
    objects: dict[str, int]


def _build(tmp_path) -> World:
    vision = Group.objects.create(name=TEAM)
    audio = Group.objects.create(name="audio")
    users = {
        "no_team": ("nora", None, None),
        "other_team": ("otto", audio, TeamRole.OPERATOR),
        "viewer": ("victor", vision, TeamRole.VIEWER),
        "operator": ("olivia", vision, TeamRole.OPERATOR),
    }
    User = get_user_model()
    people = {}
    for role, (username, team, team_role) in users.items():
        people[role] = User.objects.create_user(username)
        if team is not None:
            TeamMember.objects.create(team=team, user=people[role], role=team_role)
    people["staff"] = User.objects.create_user("stan", is_staff=True)
    people["superuser"] = User.objects.create_superuser("root", "root@example.com", None)

    keys: dict[str, tuple[str, str] | None] = {"anonymous": None}
    # The user with no team keeps a key made while an operator of a team they have left.
    former = Group.objects.create(name="team-former")
    left = TeamMember.objects.create(team=former, user=people["no_team"], role=TeamRole.OPERATOR)
    for role, user in people.items():
        team = {"no_team": former, "other_team": audio, "staff": None, "superuser": None}.get(role, vision)
        key, secret = services.access_key_create(user=user, team=team)
        keys[role] = (key.access_key_id, secret)
    left.delete()

    sessions: dict[str, str | None] = {"anonymous": None}
    for role, user in people.items():
        client = Client()
        client.force_login(user)
        sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value

    register_algorithm(program=COMMAND)
    register_image("quadratic")
    register_algorithm(name="spare", program=COMMAND)
    tuning_job = external_tuning_job(name=TUNING_JOB, team_name=TEAM)
    training_job, _ = services.training_job_claim_external(tuning_job_id=tuning_job.id, claimant="trainer")
    services.training_job_append_log(training_job_id=training_job.id, start=0, text="epoch 1\n")
    model = tmp_path / "model.tar.gz"
    model.write_bytes(b"model")
    TrainingJob.objects.filter(pk=training_job.id).update(model_artifact_uri=model.as_uri())
    services.training_job_record_metrics(
        training_job_id=training_job.id, records=[MetricRecord("validation:accuracy", 1, 0.5, datetime.now(UTC))]
    )
    services.tags_add(tuning_job_id=tuning_job.id, tags={"project": "seed"})
    ended = services.tuning_job_create(config=tuning_job_config(name=ENDED_TUNING_JOB, team_name=TEAM))
    for job in services.tuning_job_advance(tuning_job_id=ended.id):
        run(job, [0.5])
    services.tuning_job_stop(tuning_job_id=ended.id)
    services.tuning_job_advance(tuning_job_id=ended.id)

    services.api_token_create(user=people["operator"])
    objects = {
        "auth/user": people["viewer"].pk,
        "auth/group": vision.pk,
        "axes/accessattempt": AccessAttempt.objects.create(username="x", failures_since_start=1).pk,
        "axes/accesslog": AccessLog.objects.create(username="x").pk,
        "axes/accessfailurelog": AccessFailureLog.objects.create(username="x").pk,
        "jobs/algorithm": tuning_job.algorithm_id,
        "jobs/tuningjob": tuning_job.pk,
        "jobs/trainingjob": training_job.pk,
        "jobs/metricsample": MetricSample.objects.filter(training_job=training_job).get().pk,
        "jobs/accesskey": AccessKey.objects.first().pk,
        "jobs/apitoken": ApiToken.objects.first().pk,
        "analytics/reviewnote": ReviewNote.objects.create(tuning_job=tuning_job, author=people["viewer"], text="n").pk,
        "content_type": ContentType.objects.get_for_model(TuningJob).pk,
    }
    assert training_job.name == TRAINING_JOB
    return World(sessions=sessions, keys=keys, objects=objects)


# What migrate fills and nothing here changes: kept, so their ids stay what other modules' tests read.
MIGRATED_TABLES = {"django_migrations", "django_content_type", "auth_permission"}


def _empty_the_database() -> None:
    """Every other table emptied, as flush would, without flush's rebuilding of the content types and
    permissions."""
    tables = set(connection.introspection.django_table_names(only_existing=True)) - MIGRATED_TABLES
    with connection.cursor() as cursor:
        for statement in connection.ops.sql_flush(no_style(), sorted(tables), allow_cascade=True):
            cursor.execute(statement)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, celery_broker, tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("artifacts")
    with override_settings(TUNEBOARD_ARTIFACTS_DIR=artifacts), django_db_blocker.unblock():
        try:
            yield _build(artifacts)
        finally:
            _empty_the_database()


# --- HTTP -------------------------------------------------------------------------------------------

LOGIN_PATHS = {"/accounts/login/", "/admin/login/"}
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _client(world: World, role: str, cross_site: bool = False) -> Client:
    """The role's browser; `cross_site`: a page elsewhere making it send a request, with the browser's CSRF
    cookie but without the token only the site's own pages know."""
    client = Client(enforce_csrf_checks=cross_site)
    if world.sessions[role] is not None:
        client.cookies[settings.SESSION_COOKIE_NAME] = world.sessions[role]
    if cross_site:
        client.cookies[settings.CSRF_COOKIE_NAME] = "x" * 32
    return client


def _concrete(route: str, world: World, name: str | None = None) -> str:
    """The URL of `route` for the world's objects, or naming `name`."""
    objects = {
        "tuning-jobs": TUNING_JOB,
        "training-jobs": TRAINING_JOB,
        "trainer": TRAINING_JOB,
        "algorithms": "spare",
    }

    def fill(match: re.Match) -> str:
        parameter = match.group(2)
        before = route[: match.start()].rstrip("/").rsplit("/", 1)[-1]
        if parameter == "name":
            return name or objects[before]
        if parameter == "object_id":
            if "content_type_id" in route:
                return str(world.objects["jobs/tuningjob"])
            return str(world.objects[route.removeprefix("admin/").split("/<", 1)[0]])
        return {
            "content_type_id": str(world.objects["content_type"]),
            "id": str(world.objects["auth/user"]),
            "app_label": "jobs",
            "url": "no-such-page/",
        }[parameter]

    # A regex route of alternatives ("sagemaker|/"): the first.
    return "/" + re.sub(r"<((?:\w+):)?(\w+)>", fill, route.split("|", 1)[0])


def _outcome(response):
    if response.status_code in (301, 302, 303, 307, 308):
        return LOGIN if urlsplit(response["Location"]).path in LOGIN_PATHS else OK
    if 200 <= response.status_code < 300:
        return OK
    return response.status_code


def _send(world: World, role: str, method: str, url: str, rule: Rule, cross_site: bool = False):
    """The response to one request of `role`, its body read, with what it wrote undone (every role meets the
    same world)."""
    client = _client(world, role, cross_site)
    data = rule.data or {}
    if not rule.json and "team" in data:
        # Forms choose a team by its id.
        team = Group.objects.filter(name=data["team"]).first()
        data = {**data, "team": str(team.pk if team else 0)}
    with transaction.atomic():
        if rule.json:
            response = client.generic(method, url, json.dumps(data), content_type="application/json")
        elif method == "POST":
            response = client.post(url, data)
        elif method == "GET":
            response = client.get(url, rule.query or {})
        else:
            response = client.generic(method, url)
        # A streamed body reads the database as it goes: read it before the rollback.
        response.body = b"".join(response.streaming_content) if response.streaming else response.content
        transaction.set_rollback(True)
    return response


def _shape(response, transform=lambda text: text) -> tuple:
    """What tells one answer from another: status, type and body (but its CSRF token, new in every answer)."""
    body = re.sub(r'(name="csrfmiddlewaretoken" value=)"[^"]*"', r"\1", response.body.decode(errors="replace"))
    return (response.status_code, response.get("Content-Type"), transform(body))


def _unasked(text: str, *asked) -> str:
    """`text` without the names of the team's jobs that the request named."""
    for name in set(re.findall(rf"{SECRET}[\w-]*", json.dumps(asked))):
        text = re.sub(rf"{re.escape(name)}(?![\w-])", "", text)
    return text


@pytest.mark.parametrize(("route", "method"), sorted(HTTP))
def test_http(route, method, world, db):
    rule = HTTP[(route, method)]
    url = _concrete(route, world, rule.name)
    # The same request naming nothing that exists, where it names the team or its jobs.
    missing_url = missing(url)
    missing_rule = dataclasses.replace(
        rule, data=json.loads(missing(json.dumps(rule.data))), query=json.loads(missing(json.dumps(rule.query)))
    )
    names_something = (missing_url, missing_rule.data, missing_rule.query) != (url, rule.data, rule.query)
    outcomes, problems = {}, []
    for role in ROLES:
        response = _send(world, role, method, url, rule)
        outcomes[role] = _outcome(response)
        if role not in MAY_CHANGE_ALGORITHMS and str(COMMAND) in response.body.decode(errors="replace"):
            problems.append(f"{role}'s answer shows an algorithm's command")
        if method not in SAFE_METHODS and outcomes[role] == OK:
            if _outcome(_send(world, role, method, url, rule, cross_site=True)) == OK:
                problems.append(f"{role}'s session acts for a request from another site (no CSRF token)")
        if role not in OUTSIDERS:
            continue
        # An answer may repeat the names asked for; any other name of the team's is a leak.
        if SECRET in _unasked(response.body.decode(errors="replace"), url, rule.data, rule.query):
            problems.append(f"{role}'s answer shows a name of team vision's")
        if names_something:
            answer_if_missing = _send(world, role, method, missing_url, missing_rule)
            if _shape(response, missing) != _shape(answer_if_missing):
                problems.append(f"{role}: what is hidden answers unlike what is missing")
    assert (outcomes, problems) == (rule.expected, [])


# --- /sagemaker -------------------------------------------------------------------------------------

UNSIGNED = "MissingAuthenticationTokenException"
DENIED = "AccessDeniedException"
NOT_FOUND = "ResourceNotFound"
# SageMaker answers a missing training job, and a missing resource to tag, with a ValidationException.
INVALID = "ValidationException"


@dataclass(frozen=True)
class Operation:
    expected: dict
    body: dict


TUNING_JOB_ARN = f"arn:aws:sagemaker:local:000000000000:hyper-parameter-tuning-job/{TUNING_JOB}"
SM_TEAM_READS = expect(UNSIGNED, NOT_FOUND, NOT_FOUND, OK, OK, OK, OK)
SM_TEAM_OPERATES = expect(UNSIGNED, NOT_FOUND, NOT_FOUND, DENIED, OK, OK, OK)
SM_SIGNED = expect(UNSIGNED, OK, OK, OK, OK, OK, OK)
SM_TAGS = expect(UNSIGNED, INVALID, INVALID, DENIED, OK, OK, OK)

SAGEMAKER: dict[str, Operation] = {
    # A key acts in its team; a key kept after leaving its team creates nothing. The other team's
    # operator may create in their own team, but not from this team's job as a warm-start parent.
    "CreateHyperParameterTuningJob": Operation(
        expect(UNSIGNED, DENIED, INVALID, DENIED, OK, OK, OK),
        {
            **create_request("sm-new"),
            "WarmStartConfig": {
                "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": ENDED_TUNING_JOB}],
                "WarmStartType": "TransferLearning",
            },
        },
    ),
    "DescribeHyperParameterTuningJob": Operation(SM_TEAM_READS, {"HyperParameterTuningJobName": TUNING_JOB}),
    "ListHyperParameterTuningJobs": Operation(SM_SIGNED, {"NameContains": TUNING_JOB}),
    "StopHyperParameterTuningJob": Operation(SM_TEAM_OPERATES, {"HyperParameterTuningJobName": TUNING_JOB}),
    "DeleteHyperParameterTuningJob": Operation(SM_TEAM_OPERATES, {"HyperParameterTuningJobName": ENDED_TUNING_JOB}),
    "ListTrainingJobsForHyperParameterTuningJob": Operation(SM_TEAM_READS, {"HyperParameterTuningJobName": TUNING_JOB}),
    "DescribeTrainingJob": Operation(
        expect(UNSIGNED, INVALID, INVALID, OK, OK, OK, OK), {"TrainingJobName": TRAINING_JOB}
    ),
    "ListTrainingJobs": Operation(SM_SIGNED, {"NameContains": TUNING_JOB}),
    "StopTrainingJob": Operation(
        expect(UNSIGNED, INVALID, INVALID, DENIED, OK, OK, OK), {"TrainingJobName": TRAINING_JOB}
    ),
    "AddTags": Operation(SM_TAGS, {"ResourceArn": TUNING_JOB_ARN, "Tags": [{"Key": "k", "Value": "v"}]}),
    "ListTags": Operation(expect(UNSIGNED, INVALID, INVALID, OK, OK, OK, OK), {"ResourceArn": TUNING_JOB_ARN}),
    "DeleteTags": Operation(SM_TAGS, {"ResourceArn": TUNING_JOB_ARN, "TagKeys": ["project"]}),
    "Search": Operation(
        SM_SIGNED,
        {
            "Resource": "TrainingJob",
            "SearchExpression": {"Filters": [{"Name": "TrainingJobName", "Operator": "Contains", "Value": TUNING_JOB}]},
        },
    ),
}


def test_every_sagemaker_operation_has_a_rule_and_every_rule_an_operation():
    without_rule, stale = sorted(set(OPERATIONS) - set(SAGEMAKER)), sorted(set(SAGEMAKER) - set(OPERATIONS))
    assert (without_rule, stale) == ([], []), "(operations without a rule, rules for operations that no longer exist)"


def _signed(world: World, role: str, operation: str, body: dict):
    """`operation` as boto3 sends it, signed with `role`'s access key (unsigned for anonymous), answered in a
    savepoint rolled back."""
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": f"SageMaker.{operation}"}
    request = AWSRequest(method="POST", url="http://testserver/sagemaker", data=data, headers=headers)
    if world.keys[role] is not None:
        SigV4Auth(Credentials(*world.keys[role]), "sagemaker", "us-east-1").add_auth(request)
    sent = {name: value for name, value in request.headers.items() if name.lower() != "content-type"}
    with transaction.atomic():
        response = Client().post(
            "/sagemaker", data, content_type=headers["Content-Type"], headers={"Host": "testserver", **sent}
        )
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize("operation", sorted(SAGEMAKER))
def test_sagemaker(operation, world, db):
    rule = SAGEMAKER[operation]
    body = rule.body
    # The same request naming nothing that exists, where it names the team or its jobs.
    missing_body = json.loads(missing(json.dumps(body)))
    outcomes, problems = {}, []
    for role in ROLES:
        response = _signed(world, role, operation, body)
        outcomes[role] = OK if response.status_code == 200 else json.loads(response.content).get("__type")
        text = _unasked(response.content.decode(), body)
        if role not in MAY_CHANGE_ALGORITHMS and str(COMMAND) in text:
            problems.append(f"{role}'s answer shows an algorithm's command")
        if role not in OUTSIDERS:
            continue
        # An answer may repeat the names asked for; any other name of the team's is a leak.
        if SECRET in text:
            problems.append(f"{role}'s answer shows a name of team vision's")
        if missing_body != body:
            answer_if_missing = _signed(world, role, operation, missing_body)
            hidden = (response.status_code, missing(response.content.decode()))
            if hidden != (answer_if_missing.status_code, answer_if_missing.content.decode()):
                problems.append(f"{role}: what is hidden answers unlike what is missing")
    assert (outcomes, problems) == (rule.expected, [])


# --- websockets -------------------------------------------------------------------------------------

ACCEPTED = "accepted"
REFUSED = "refused"
# The list socket is open to everyone signed in; what it forwards of a tuning job is the question.
SEES = "accepted, forwards the team's tuning job"
BLIND = "accepted, forwards nothing of the team's"

WEBSOCKET = {
    "ws/tuning-jobs/": expect(REFUSED, BLIND, BLIND, SEES, SEES, SEES, SEES),
    "ws/tuning-jobs/<str:name>/": expect(REFUSED, REFUSED, REFUSED, ACCEPTED, ACCEPTED, ACCEPTED, ACCEPTED),
}


def test_every_websocket_route_has_a_rule_and_every_rule_a_route():
    routes = {str(route.pattern) for route in websocket_urlpatterns}
    without_rule, stale = sorted(routes - set(WEBSOCKET)), sorted(set(WEBSOCKET) - routes)
    assert (without_rule, stale) == ([], []), "(routes without a rule, rules for routes that no longer exist)"


async def _open(world: World, role: str, path: str):
    """The site's whole websocket stack (origin check, session, router), as the role's browser opens it."""
    headers = [(b"host", b"testserver"), (b"origin", b"http://testserver")]
    if world.sessions[role] is not None:
        headers.append((b"cookie", f"{settings.SESSION_COOKIE_NAME}={world.sessions[role]}".encode()))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect()
    return communicator if connected else None, code


async def _forwarded(sockets: dict, tuning_job_id: int) -> dict[str, bool]:
    """Publish a status change of the team's tuning job; which sockets forward it.

    Every socket hears the same event at once: once the first have
    forwarded it, the others get half a second more.
    """
    message = {"type": "job.event", "event": realtime.TUNING_JOB_STATUS, "tuning_job_id": tuning_job_id, "payload": {}}
    await get_channel_layer().group_send(realtime.TUNING_JOB_LIST_GROUP, message)
    loop = asyncio.get_running_loop()
    deadline, last_arrival = loop.time() + 10, None
    while loop.time() < deadline:
        arrived = [role for role, socket in sockets.items() if not socket.output_queue.empty()]
        if len(arrived) == len(sockets):
            break
        if arrived and last_arrival is None:
            last_arrival = loop.time()
        if last_arrival is not None and loop.time() - last_arrival > 0.5:
            break
        await asyncio.sleep(0.02)
    forwarded = {}
    for role, socket in sockets.items():
        rows = []
        while not socket.output_queue.empty():
            rows.append(await socket.receive_json_from())
        forwarded[role] = any(row.get("name") == TUNING_JOB for row in rows)
    return forwarded


async def _walk_route(world: World, route: str) -> tuple[dict, list]:
    path = "/" + route.replace("<str:name>", TUNING_JOB)
    outcomes, problems, sockets = {}, [], {}
    for role in ROLES:
        socket, code = await _open(world, role, path)
        outcomes[role] = REFUSED if socket is None else ACCEPTED
        if socket is not None:
            sockets[role] = socket
        elif "<str:name>" in route:
            _, code_if_missing = await _open(world, role, missing(path))
            if code != code_if_missing:
                problems.append(f"{role}: a hidden tuning job closes unlike a missing one")
    if route == "ws/tuning-jobs/":
        for role, forwarded in (await _forwarded(sockets, world.objects["jobs/tuningjob"])).items():
            outcomes[role] = SEES if forwarded else BLIND
    await asyncio.gather(*(socket.disconnect() for socket in sockets.values()))
    return outcomes, problems


def test_websocket(world, db):
    # An event loop on a thread of its own (not async_to_sync from this test's thread) runs the consumers'
    # database reads (database_sync_to_async) on a connection of their own: outside this test's
    # transaction, on the world as committed, and closing it as they go leaves this test's one alone.
    with ThreadPoolExecutor(max_workers=1) as thread:
        walked = {route: thread.submit(asyncio.run, _walk_route(world, route)).result() for route in WEBSOCKET}
    assert walked == {route: (expected, []) for route, expected in WEBSOCKET.items()}
