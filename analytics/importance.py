"""Hyperparameter importance of a tuning job: Optuna's fANOVA and PED-ANOVA over our observations.

We do not reimplement either method: each training job with a finite final
objective becomes an Optuna FrozenTrial in an in-memory study, whose
distributions are the tuning job's parameter ranges (log-scaled where the
range is searched on a log scale), and Optuna's evaluators read that study.

Pure Python over a SearchSpace and plain observations (no Django), so it is
unit-tested alone. Both evaluators are deterministic here (fANOVA's forest
is seeded), so the page and the API agree on every load.
"""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator

from jobs.tuning.space import (
    CategoricalParameterRange,
    ContinuousParameterRange,
    ScalingType,
    SearchSpace,
    SearchSpaceError,
    Value,
    effective_scaling,
)

# Fewer than two observations have no variance to split between hyperparameters.
MIN_OBSERVATIONS = 2
FANOVA_SEED = 0
# Optuna's default forest (64 trees of depth 64) took 26 s over 1,000 training jobs with
# three hyperparameters; 16 trees of depth 6 took 0.5 s and ranked them the same.
FANOVA_TREES = 16
FANOVA_DEPTH = 6
# Past this many, both evaluators see a seeded uniform sample: Optuna's in-memory storage
# deep-copies every trial it is given (5 s for 10,000), and a page must answer in about a second.
MAX_OBSERVATIONS = 1_000

# Optuna announces every study it creates at INFO; a page load creates one.
optuna.logging.set_verbosity(optuna.logging.WARNING)


@dataclass(frozen=True)
class Observation:
    """One training job as the evaluators see it: its tuned hyperparameters and final objective."""

    params: Mapping[str, Value]
    value: float


@dataclass(frozen=True)
class MethodImportance:
    method: str
    # Hyperparameter -> importance (they sum to 1 unless all are 0), most important first.
    importances: dict[str, float]
    # How the numbers were got when it is not from every training job (a sample).
    notes: tuple[str, ...]


@dataclass(frozen=True)
class ImportanceResult:
    observations: int
    methods: tuple[MethodImportance, ...]
    # Why there are no importances; None when there are.
    message: str | None = None

    def as_dict(self) -> dict:
        return {
            "observations": self.observations,
            "message": self.message,
            "methods": [
                {"method": m.method, "importances": m.importances, "notes": list(m.notes)} for m in self.methods
            ],
        }


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """Optuna's distribution for each range.

    Optuna has no reverse-logarithmic scale: such a range is taken as linear,
    which leaves fANOVA's forest (splits are order-based) nearly unchanged.
    """
    result: dict[str, BaseDistribution] = {}
    for param_range in space.ranges:
        if isinstance(param_range, CategoricalParameterRange):
            result[param_range.name] = CategoricalDistribution(param_range.values)
            continue
        log = effective_scaling(param_range) is ScalingType.LOGARITHMIC
        if isinstance(param_range, ContinuousParameterRange):
            result[param_range.name] = FloatDistribution(param_range.min_value, param_range.max_value, log=log)
        else:
            result[param_range.name] = IntDistribution(param_range.min_value, param_range.max_value, log=log)
    return result


def usable_observations(space: SearchSpace, observations: Sequence[Observation]) -> list[Observation]:
    """Those with a finite objective and values inside the space (an imported job may have neither)."""
    usable = []
    for observation in observations:
        if not isinstance(observation.value, (int, float)) or not math.isfinite(observation.value):
            continue
        try:
            params = space.parse(observation.params)
        except SearchSpaceError:
            continue
        usable.append(Observation(params, float(observation.value)))
    return usable


def hyperparameter_importance(
    space: SearchSpace, observations: Sequence[Observation], *, maximize: bool
) -> ImportanceResult:
    """fANOVA's and PED-ANOVA's importance of each hyperparameter for the objective."""
    usable = usable_observations(space, observations)
    reason = _why_nothing_to_explain(usable)
    if reason:
        return ImportanceResult(observations=len(usable), methods=(), message=reason)
    sample = usable
    notes: tuple[str, ...] = ()
    if len(usable) > MAX_OBSERVATIONS:
        picked = np.random.default_rng(FANOVA_SEED).choice(len(usable), MAX_OBSERVATIONS, replace=False)
        sample = [usable[index] for index in sorted(picked)]
        notes = (f"Computed on a random {MAX_OBSERVATIONS:,} of the {len(usable):,} training jobs.",)
    study = _study(space, sample, maximize=maximize)
    fanova = FanovaImportanceEvaluator(n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=FANOVA_SEED)
    methods = (
        _evaluate("fANOVA", fanova, study, notes),
        _evaluate("PED-ANOVA", PedAnovaImportanceEvaluator(), study, notes),
    )
    return ImportanceResult(observations=len(usable), methods=methods)


def _why_nothing_to_explain(usable: Sequence[Observation]) -> str | None:
    n = len(usable)
    if n < MIN_OBSERVATIONS:
        return (
            f"Importance needs at least {MIN_OBSERVATIONS} training jobs with a final objective value; "
            f"this tuning job has {n}."
        )
    # One value for all: fANOVA has no variance to decompose (Optuna raises).
    if len({observation.value for observation in usable}) == 1:
        return f"All {n} training jobs have the same final objective value: no hyperparameter made a difference."
    # One configuration for all: Optuna still answers (all of it to one hyperparameter), wrongly.
    if len({tuple(observation.params.items()) for observation in usable}) == 1:
        return f"All {n} training jobs ran with the same hyperparameters: none can explain a difference."
    return None


def _study(space: SearchSpace, observations: Sequence[Observation], *, maximize: bool) -> optuna.Study:
    dists = distributions(space)
    study = optuna.create_study(
        storage=optuna.storages.InMemoryStorage(), direction="maximize" if maximize else "minimize"
    )
    study.add_trials(
        [
            optuna.trial.create_trial(params=dict(observation.params), distributions=dists, value=observation.value)
            for observation in observations
        ]
    )
    return study


def _evaluate(method: str, evaluator, study: optuna.Study, notes: tuple[str, ...]) -> MethodImportance:
    # Normalised (the default; passing `normalize` at all is an experimental argument in Optuna).
    importances = optuna.importance.get_param_importances(study, evaluator=evaluator)
    return MethodImportance(method, {name: float(value) for name, value in importances.items()}, notes)
