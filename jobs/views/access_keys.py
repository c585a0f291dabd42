"""The access keys page: create and revoke the keys boto3 signs SageMaker requests with.

A new key's secret is shown in the response to the POST that created it
and never again (the page says so); a reload shows only the key id.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache

from jobs import services
from jobs.models import AccessKey


def _teams(user):
    """The teams a key of `user` may act in: their own (any role; a viewer's key can still read)."""
    if user.is_staff:
        return Group.objects.order_by("name")
    return Group.objects.filter(members__user=user).distinct().order_by("name")


@never_cache
@login_required
def access_keys(request):
    created = None
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "revoke":
            key_id = request.POST.get("access_key_id", "")
            if not AccessKey.objects.filter(access_key_id=key_id, user=request.user).exists():
                messages.error(request, "No such access key of yours.")
            elif services.access_key_revoke(access_key_id=key_id):
                messages.success(request, f"Revoked {key_id}: requests signed with it are refused from now on.")
            else:
                messages.info(request, f"{key_id} was already revoked.")
            return redirect("access-keys")
        if action == "create":
            team = None
            team_id = request.POST.get("team", "")
            if team_id:
                team = _teams(request.user).filter(pk=team_id if team_id.isdigit() else None).first()
                if team is None:
                    errors["team"] = ["Choose one of your teams."]
            if not errors:
                try:
                    created = services.access_key_create(
                        user=request.user, team=team, description=request.POST.get("description", "").strip()
                    )
                except ValidationError as exc:
                    errors = exc.message_dict
        else:
            errors["action"] = ["Unknown action."]
    status = 400 if errors else 200
    context = {
        "keys": AccessKey.objects.filter(user=request.user).select_related("team"),
        "teams": _teams(request.user),
        "created": created,
        "errors": errors,
        "endpoint_url": request.build_absolute_uri("/sagemaker"),
    }
    return render(request, "jobs/access_keys.html", context, status=status)
