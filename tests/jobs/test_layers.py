"""The jobs app's import graph: no circle, and no import from a lower layer up.

Read from the source with `ast`, every import counts, including those inside
functions and under TYPE_CHECKING: an import hidden in a function is still a
dependency, and the circles this test guards against used to hide there.
"""

import ast
from pathlib import Path

JOBS = Path(__file__).resolve().parents[2] / "jobs"

# Lowest first. A module may import its own layer and the ones below it, never
# one above: jobs/tuning is pure Python, services change state, and tasks,
# views, the API and the endpoint call services.
LAYERS = [
    ("pure algorithms", ["jobs.tuning"]),
    (
        "models, backends, reads",
        [
            "jobs.fields",
            "jobs.formatting",
            "jobs.jsonbody",
            "jobs.models",
            "jobs.backends",
            "jobs.aws",
            "jobs.realtime",
            "jobs.config",
            "jobs.selectors",
            "jobs.job_directories",
            "jobs.sagemaker.validation",
            "jobs.sagemaker.algorithm",
            "jobs.sagemaker.shapes",
            "jobs.sagemaker",
            "jobs.apps",
            "jobs.access_signals",
            "jobs.checks",
            "jobs.migrations",
        ],
    ),
    ("services", ["jobs.services"]),
    ("runs and imports", ["jobs.runner", "jobs.sagemaker.imports"]),
    (
        "entry points",
        [
            "jobs.tasks",
            "jobs.views",
            "jobs.api",
            "jobs.consumers",
            "jobs.routing",
            "jobs.forms",
            "jobs.admin",
            "jobs.templatetags",
            "jobs.management",
            "jobs.sagemaker.api",
            "jobs.urls",
        ],
    ),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(JOBS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in JOBS.rglob("*.py")}


def resolve(name: str) -> str | None:
    """The jobs module `name` refers to (a submodule if there is one, else its package); None outside jobs."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str) -> set[str]:
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.update(f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names)
    return found


def graph() -> dict[str, set[str]]:
    edges = {}
    for module in MODULES:
        targets = {resolve(name) for name in imports_of(module)}
        edges[module] = {target for target in targets if target and target != module}
    return edges


def layer_of(module: str) -> int:
    """The layer of the longest prefix that names `module` or a package holding it."""
    matches = [
        (len(prefix), index)
        for index, (_, prefixes) in enumerate(LAYERS)
        for prefix in prefixes
        if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} is in no layer: add it to LAYERS in {__file__}"
    return max(matches)[1]


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    visiting, done = [], set()

    def visit(module):
        if module in visiting:
            return [*visiting[visiting.index(module) :], module]
        if module in done:
            return None
        visiting.append(module)
        for target in sorted(edges[module]):
            cycle = visit(target)
            if cycle:
                return cycle
        visiting.pop()
        done.add(module)
        return None

    for module in sorted(edges):
        cycle = visit(module)
        if cycle:
            return cycle
    return None


def test_no_jobs_module_imports_itself_back_through_others():
    assert find_cycle(graph()) is None


def test_the_finder_sees_a_circle_through_a_function_level_import():
    edges = {"jobs.runner": {"jobs.services"}, "jobs.services": {"jobs.tasks"}, "jobs.tasks": {"jobs.runner"}}
    assert find_cycle(edges) == ["jobs.runner", "jobs.services", "jobs.tasks", "jobs.runner"]


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in graph().items()
        for target in targets
        if layer_of(target) > layer_of(module)
    ]
    assert upward == []


def test_the_tuning_package_imports_no_django_and_nothing_else_of_jobs():
    outside = {
        f"{module} imports {name}"
        for module in MODULES
        if module.startswith("jobs.tuning")
        for name in imports_of(module)
        if name.split(".")[0] == "django" or (name.startswith("jobs.") and not name.startswith("jobs.tuning"))
    }
    assert outside == set()


def test_services_send_tasks_by_name_and_never_import_the_tasks_module():
    services = [module for module in MODULES if module.startswith("jobs.services")]
    assert services
    assert {module for module in services if "jobs.tasks" in graph()[module]} == set()
