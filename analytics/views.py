"""Compare, the review report and the exports. Thin: reads from selectors, notes through services.

A tuning job the user may not see is a 404 on every page and export, exactly
like one that does not exist.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from analytics import analysis, selectors, services
from analytics.forms import CompareForm, DecisionForm, ReviewNoteForm
from analytics.table import analytics_csv, analytics_json, analytics_top
from jobs import selectors as jobs_selectors

TOP_N = 5


def _visible_tuning_job(request, name):
    return get_object_or_404(jobs_selectors.tuning_jobs_visible_to(user=request.user), name=name)


def _visible_training_job(request, name):
    return get_object_or_404(
        jobs_selectors.training_jobs_visible_to(user=request.user).select_related("tuning_job"), name=name
    )


def _training_job_page(training_job, anchor: str):
    return redirect(reverse("training-job-detail", args=[training_job.name]) + anchor)


@login_required
@require_POST
def training_job_choose(request, name):
    """The training job page's "Choose this training job": the team's decision (operators)."""
    training_job = _visible_training_job(request, name)
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _form_errors(request, form, training_job, "#decision")
    try:
        services.decision_make(training_job=training_job, user=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return _training_job_page(training_job, "#decision")
    messages.success(request, f"{training_job.name} is the team's choice from {training_job.tuning_job.name}.")
    return redirect(reverse("tuning-job-detail", args=[training_job.tuning_job.name]) + "#decision")


@login_required
@require_POST
def tuning_job_decision_withdraw(request, name):
    tuning_job = _visible_tuning_job(request, name)
    services.decision_withdraw(tuning_job=tuning_job, user=request.user)
    messages.success(request, f"The decision on {tuning_job.name} was withdrawn.")
    return redirect(reverse("tuning-job-detail", args=[tuning_job.name]) + "#decision")


@login_required
@require_POST
def training_job_note_add(request, name):
    """A note on one training job (anyone who may see it, as on the report)."""
    training_job = _visible_training_job(request, name)
    form = ReviewNoteForm(request.POST)
    if form.is_valid():
        try:
            services.review_note_add(
                tuning_job=training_job.tuning_job,
                training_job=training_job,
                author=request.user,
                text=form.cleaned_data["text"],
            )
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
    return _training_job_page(training_job, "#notes")


def _form_errors(request, form, training_job, anchor):
    for errors in form.errors.values():
        for message in errors:
            messages.error(request, message)
    return _training_job_page(training_job, anchor)


@login_required
@require_http_methods(["GET", "POST"])
def tuning_job_report(request, name):
    """The printable review report; POST adds a note (viewers may, see review_note_add)."""
    tuning_job = _visible_tuning_job(request, name)
    form = ReviewNoteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.review_note_add(tuning_job=tuning_job, author=request.user, text=form.cleaned_data["text"])
        except ValidationError as error:
            form.add_error(None, error)  # keyed by "text": shown at the field
        else:
            return redirect(reverse("tuning-job-report", args=[tuning_job.name]) + "#notes")
    summary = selectors.tuning_job_summary(tuning_job=tuning_job)
    top = analytics_top(summary.rows, objective_type=tuning_job.objective_type, n=TOP_N)
    charts = {
        "objective": {"name": tuning_job.objective_metric_name, "type": tuning_job.objective_type},
        "best_so_far": [selectors.best_so_far_series(summary)],
        "by_job": selectors.objective_by_training_job(summary.rows),
        "curves": selectors.objective_learning_curves(tuning_job=tuning_job, rows=summary.rows),
    }
    return render(
        request,
        "analytics/report.html",
        {
            "tuning_job": tuning_job,
            "summary": summary,
            "top": [[(column, row.get(column)) for column in summary.columns] for row in top],
            "top_n": TOP_N,
            "charts": charts,
            "notes": selectors.review_notes_for(tuning_job=tuning_job),
            "decision": selectors.decision_for(tuning_job=tuning_job),
            "form": form,
        },
    )


@login_required
@require_GET
def tuning_job_analysis(request, name):
    """Importance, contour, slices, EDF, rank and timeline of one tuning job, drawn in the browser."""
    tuning_job = _visible_tuning_job(request, name)
    charts = analysis.analysis_charts(tuning_job=tuning_job)
    log_axes = [parameter for parameter in charts["parameters"] if parameter.get("log_possible")]
    return render(
        request, "analytics/analysis.html", {"tuning_job": tuning_job, "charts": charts, "log_axes": log_axes}
    )


@login_required
@require_GET
def analytics_csv_export(request, name):
    tuning_job = _visible_tuning_job(request, name)
    summary = selectors.tuning_job_summary(tuning_job=tuning_job)
    return _attachment(
        analytics_csv(summary.rows, columns=summary.columns), "text/csv; charset=utf-8", f"{name}-analytics.csv"
    )


@login_required
@require_GET
def analytics_json_export(request, name):
    tuning_job = _visible_tuning_job(request, name)
    summary = selectors.tuning_job_summary(tuning_job=tuning_job)
    return _attachment(analytics_json(summary.rows), "application/json", f"{name}-analytics.json")


def _attachment(body: str, content_type: str, filename: str) -> HttpResponse:
    # Tuning job names are letters, digits and hyphens: safe in a quoted filename.
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
@require_GET
def tuning_jobs_compare(request):
    """Two or more tuning jobs side by side: ?jobs=off&jobs=auto[&baseline=off], the baseline first
    (the first one named when none is chosen)."""
    names = list(dict.fromkeys(name for name in request.GET.getlist("jobs") if name))
    baseline = request.GET.get("baseline", "")
    named = [*names, baseline] if baseline else names
    if selectors.tuning_jobs_named_visible_to(user=request.user, names=named) is None:
        raise Http404("No such tuning job.")
    data = None
    if "jobs" in request.GET:
        data = QueryDict(mutable=True)
        data.setlist("jobs", names)
        data["baseline"] = baseline
    form = CompareForm(data, choices=selectors.compare_choices(user=request.user))
    summaries = []
    charts = None
    tuning_jobs = []
    if form.is_valid():
        tuning_jobs = selectors.tuning_jobs_named_visible_to(user=request.user, names=form.ordered_names())
        summaries = selectors.tuning_jobs_compare(tuning_jobs=tuning_jobs)
        first = tuning_jobs[0]
        charts = {
            "objective": {"name": first.objective_metric_name, "type": first.objective_type},
            "best_so_far": [selectors.best_so_far_series(summary) for summary in summaries],
        }
    objectives = {(job.objective_metric_name, job.objective_type) for job in tuning_jobs}
    return render(
        request,
        "analytics/compare.html",
        {
            "form": form,
            "summaries": summaries,
            "charts": charts,
            "mixed_objectives": len(objectives) > 1 and bool(summaries),
        },
    )
