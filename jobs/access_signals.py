"""Who may read a socket changes outside jobs' services (logout, the admin's user and team pages): tell the sockets."""

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_out
from django.db.models.signals import post_delete, post_save

from jobs import realtime
from jobs.models import TeamMember


def _logged_out(sender, request, user, **kwargs):
    if user is not None:
        realtime.access_changed(user_id=user.pk, ended_session_key=request.session.session_key)


def _user_saved(sender, instance, **kwargs):
    realtime.access_changed(user_id=instance.pk)


def _membership_changed(sender, instance, **kwargs):
    realtime.access_changed(user_id=instance.user_id)


def connect() -> None:
    user_logged_out.connect(_logged_out, dispatch_uid="jobs.access.logged_out")
    post_save.connect(_user_saved, sender=get_user_model(), dispatch_uid="jobs.access.user_saved")
    for signal in (post_save, post_delete):
        signal.connect(_membership_changed, sender=TeamMember, dispatch_uid=f"jobs.access.member.{id(signal)}")
