"""Code that serves a request finds tuning jobs, training jobs and teams by name only through the scoped selectors.

Read from the source with `ast`: a lookup by name or id written straight on a
model's manager (`TuningJob.objects.get(name=...)`) in a view, an API module,
the /sagemaker operations, a consumer, a form or the rules of jobs/config.py
fails here, so another team's object can never answer differently from a
missing one. Asking whether a name is taken (`...filter(name=n).exists()`)
stays allowed: names are unique across the server, as in one AWS account.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

REQUEST_SERVING = [
    "jobs/views",
    "jobs/api",
    "jobs/sagemaker/api",
    "jobs/consumers.py",
    "jobs/forms.py",
    "jobs/config.py",
    "analytics/views.py",
    "analytics/api.py",
    "analytics/forms.py",
    "analytics/selectors.py",
]
SCOPED_MODELS = {"TuningJob", "TrainingJob", "Group"}
# Requests name objects (URLs and /sagemaker bodies carry names, never ids); an id is
# only read back for an object already found through a selector.
LOOKUP_KEYWORDS = {"name", "name__in", "name__iexact"}


def modules():
    for entry in REQUEST_SERVING:
        path = ROOT / entry
        yield from sorted(path.rglob("*.py")) if path.is_dir() else [path]


def chain_root(node: ast.AST) -> tuple[str | None, list[str]]:
    """The name a chain such as `TuningJob.objects.select_related(...).filter(...)` starts from, and its attributes."""
    attributes = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            attributes.append(node.attr)
            node = node.value
        else:
            return (node.id if isinstance(node, ast.Name) else None), attributes


def unscoped_lookups(source: str) -> list[int]:
    """Lines where a scoped model is looked up by name or id on its own manager."""
    tree = ast.parse(source)
    name_checks = {
        id(node.func.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "exists"
    }
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or id(node) in name_checks:
            continue
        keywords = {keyword.arg for keyword in node.keywords}
        if isinstance(node.func, ast.Name) and node.func.id == "get_object_or_404":
            root, attributes = chain_root(node.args[0]) if node.args else (None, [])
            if root in SCOPED_MODELS and keywords & LOOKUP_KEYWORDS:
                lines.append(node.lineno)
            continue
        if not isinstance(node.func, ast.Attribute) or node.func.attr not in {"get", "filter"}:
            continue
        root, attributes = chain_root(node.func)
        if root in SCOPED_MODELS and "objects" in attributes and keywords & LOOKUP_KEYWORDS:
            lines.append(node.lineno)
    return sorted(lines)


def test_request_serving_code_looks_names_up_only_through_the_scoped_selectors():
    found = {
        f"{path.relative_to(ROOT)}:{line}": path.read_text().splitlines()[line - 1].strip()
        for path in modules()
        for line in unscoped_lookups(path.read_text())
    }
    assert found == {}, "look these up through jobs.selectors (tuning_jobs_visible_to, tuning_jobs_named_for)"


def test_the_check_finds_an_unscoped_lookup_and_lets_a_name_check_pass():
    source = """
def view(request, name):
    taken = TuningJob.objects.filter(name=name).exists()
    visible = selectors.tuning_jobs_visible_to(user=request.user).get(name=name)
    parent = TuningJob.objects.select_related("algorithm").filter(name=name).first()
    job = get_object_or_404(TrainingJob.objects.all(), name=name)
    again = TuningJob.objects.get(pk=visible.pk)
    team = Group.objects.filter(name=name).first()
"""
    assert unscoped_lookups(source) == [5, 6, 8]
