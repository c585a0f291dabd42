"""Admin: review notes are listed and can be deleted (moderation); they are written on the report page."""

from django.contrib import admin

from analytics.models import ReviewNote
from jobs.admin import time_column


@admin.register(ReviewNote)
class ReviewNoteAdmin(admin.ModelAdmin):
    list_display = ("tuning_job", "author", time_column("created_at", "created"), "excerpt")
    list_filter = ("created_at",)
    search_fields = ("tuning_job__name", "author__username", "text")
    readonly_fields = ("tuning_job", "author", "text", "created_at")
    list_select_related = ("tuning_job", "author")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="Text")
    def excerpt(self, note: ReviewNote) -> str:
        return note.text if len(note.text) <= 80 else note.text[:79] + "…"
