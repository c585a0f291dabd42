import json
import math
from pathlib import Path

import numpy as np
import pytest

from bench import early_stopping as bench
from jobs.tuning.early_stopping import (
    BestSoFarRankRule,
    CorrelationGatedEnvelopeRule,
    EarlyStoppingRule,
    ExtrapolatedEnvelopeRule,
    LeaderEnvelopeRule,
    MedianStoppingRule,
)
from jobs.tuning.strategies.base import Direction

CURVES_DIR = Path(__file__).resolve().parents[2] / "bench" / "curves"


def curve_document(direction="Maximize", finals=(0.9, 0.5, 0.3, 0.2, 0.8, 0.1), epochs=5):
    """Linear curves from 0 to each final value, one second per epoch."""
    sign = 1 if direction == "Maximize" else -1
    return {
        "objective": {"name": "validation:accuracy", "type": direction},
        "curves": [
            {
                "hyperparameters": {"job": i},
                "values": [sign * final * epoch / epochs for epoch in range(1, epochs + 1)],
                "seconds_per_epoch": 1.0,
            }
            for i, final in enumerate(finals)
        ],
    }


MAX = Direction.MAXIMIZE
MIN = Direction.MINIMIZE


class AlwaysStop(EarlyStoppingRule):
    name = "always"

    def should_stop(self, current, previous, direction, ended=()):
        return True


class Recorder:
    """A policy that writes down what a rule would be shown."""

    def __init__(self):
        self.rule = bench.RulePolicy(MedianStoppingRule(), Direction.MAXIMIZE)
        self.seen = []

    def start(self, job):
        self.rule.start(job)

    def report(self, job, epoch, value):
        self.rule.report(job, epoch, value)
        self.seen.append((job, epoch, [list(c) for c in self.rule._curves[:job]]))
        return False

    def finish(self, job, value, stopped):
        pass


def factories(**extra):
    return {
        "off": lambda direction: bench.OffPolicy(),
        "always": lambda direction: bench.RulePolicy(AlwaysStop(), direction),
        **extra,
    }


def test_off_saves_nothing_and_always_stopping_saves_most():
    curves = bench.parse_curves(curve_document())
    summary = bench.evaluate(curves, factories(), range(5), jobs=4, parallel=2)
    assert summary["off"]["saved_pct"] == 0
    assert summary["off"]["rel_loss_pct"] == 0
    # Stopped after epoch 1 of 5: 80 % saved, the best is a fifth of Off's.
    assert summary["always"]["saved_pct"] == pytest.approx(80.0)
    assert summary["always"]["rel_loss_pct"] == pytest.approx(80.0)
    assert summary["always"]["best_stopped_pct"] == 100.0


def test_minimize_losses_have_the_same_sign():
    curves = bench.parse_curves(curve_document("Minimize"))
    assert curves.direction == Direction.MINIMIZE
    summary = bench.evaluate(curves, factories(), range(5), jobs=4, parallel=2)
    assert summary["always"]["saved_pct"] == pytest.approx(80.0)
    assert summary["always"]["rel_loss_pct"] == pytest.approx(80.0)
    assert summary["always"]["mean_best"] < 0


def test_jobs_run_in_parallel_and_see_only_what_was_reported():
    curves = bench.parse_curves(curve_document(finals=(1, 1, 1), epochs=3))
    recorder = Recorder()
    runs = bench.simulate(curves.curves, [0, 1, 2], recorder, parallel=2)
    assert [(r.start, r.end) for r in runs] == [(0, 3), (0, 3), (3, 6)]
    seen = {(job, epoch): previous for job, epoch, previous in recorder.seen}
    # Job 0 reported each epoch at the same moment as job 1, and was processed first.
    assert seen[(1, 1)] == [pytest.approx([1 / 3])]
    assert seen[(1, 2)] == [pytest.approx([1 / 3, 2 / 3])]
    assert seen[(0, 3)] == []  # job 0 started first: nothing before it
    assert [len(c) for c in seen[(2, 1)]] == [3, 3]


def test_a_stopped_job_frees_its_slot_early():
    curves = bench.parse_curves(curve_document(finals=(1, 1, 1), epochs=3))
    runs = bench.simulate(curves.curves, [0, 1, 2], bench.RulePolicy(AlwaysStop(), Direction.MAXIMIZE), 2)
    assert [(r.start, r.end, r.epochs, r.stopped) for r in runs] == [(0, 1, 1, True), (0, 1, 1, True), (1, 2, 1, True)]


class StopAfterFirstEpoch(EarlyStoppingRule):
    """Stops every job but the first two after one epoch."""

    name = "first-two"

    def should_stop(self, current, previous, direction, ended=()):
        return len(previous) >= 2


def test_an_equal_budget_replay_launches_more_jobs_and_never_spends_more():
    curves = bench.parse_curves(curve_document(finals=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), epochs=5))
    order = list(range(9))
    off = bench.simulate(curves.curves, order[:4], bench.OffPolicy(), parallel=1)
    budget = bench.training_time(off)  # 20 s: four whole jobs
    fit = bench.simulate(curves.curves, order, bench.RulePolicy(StopAfterFirstEpoch(), MAX), 1, budget=budget)
    # Two whole jobs (10 s), then one epoch each while a whole job would still fit:
    # the eighth starts at 15 s spent (15 + 5 <= 20), the ninth would not fit at 16 s.
    assert [run.epochs for run in fit] == [5, 5, 1, 1, 1, 1, 1, 1]
    assert bench.training_time(fit) == pytest.approx(16.0)
    # Without the rule, exactly Off's jobs fit.
    same = bench.simulate(curves.curves, order, bench.OffPolicy(), 1, budget=budget)
    assert [run.curve for run in same] == [0, 1, 2, 3]


def test_a_job_is_launched_only_if_it_fits_whole():
    curves = bench.parse_curves(curve_document(finals=(0.1, 0.2, 0.3), epochs=5))
    runs = bench.simulate(curves.curves, [0, 1, 2], bench.OffPolicy(), parallel=2, budget=12.0)
    assert [run.curve for run in runs] == [0, 1]  # the third would end at 15 s of training time


def test_cut_at_the_budget_ends_running_jobs_with_their_last_value():
    curves = bench.parse_curves(curve_document(finals=(0.5, 1.0, 0.2), epochs=5))
    runs = bench.simulate(curves.curves, [0, 1, 2], bench.OffPolicy(), parallel=2, budget=7.0, cut=True)
    # Two slots spend 2 s of training time a second: the budget is spent at t = 3.5 s.
    assert [(run.end, run.epochs, run.stopped) for run in runs] == [(3.5, 3, True), (3.5, 3, True)]
    assert runs[1].final == pytest.approx(1.0 * 3 / 5)
    assert bench.training_time(runs) == pytest.approx(7.0)


def test_equal_budget_outcomes():
    assert bench._outcome(0.9, 0.8, MAX) == "win"
    assert bench._outcome(0.8, 0.8, MAX) == "tie"
    assert bench._outcome(0.7, 0.8, MAX) == "loss"
    assert bench._outcome(0.7, 0.8, MIN) == "win"
    assert bench._outcome(math.nan, 0.8, MAX) == "loss"
    assert bench._outcome(0.1, math.nan, MAX) == "win"


@pytest.mark.parametrize(
    "rule",
    [
        MedianStoppingRule(),
        BestSoFarRankRule(),
        LeaderEnvelopeRule(),
        LeaderEnvelopeRule(leaders=2, lag=0.5, grace_fraction=0.2),
        LeaderEnvelopeRule(leaders=2, lag=0.75, window=0.5),
        CorrelationGatedEnvelopeRule(),
        CorrelationGatedEnvelopeRule(
            gate_correlation=0, gate_confidence=0, gate_jobs=4, gate_history=4, gate_leaders=2
        ),
        CorrelationGatedEnvelopeRule(gate_correlation=-0.5, gate_jobs=4, gate_leaders=1, window=0.5, leaders=3),
        ExtrapolatedEnvelopeRule(leaders=2),
        ExtrapolatedEnvelopeRule(leaders=3, growth=0.5, noise=0.5, extrapolation_grace=0, window=0.5),
    ],
    ids=lambda rule: bench._label(rule),
)
@pytest.mark.parametrize("direction", [MAX, MIN])
def test_the_replay_decides_as_the_rule_does_on_whole_curves(rule, direction):
    """The replay's incremental bookkeeping must give the rule's own `should_stop` answers."""
    rng = np.random.default_rng(7)
    pool = []
    for _ in range(12):
        values = np.cumsum(rng.normal(0.05, 0.1, size=int(rng.integers(1, 9))))
        values[rng.random(len(values)) < 0.05] = np.nan
        pool.append(bench.Curve(tuple(float(v) for v in values), float(rng.uniform(0.5, 2)), {}))

    class Check(bench.RulePolicy):
        def report(self, job, epoch, value):
            fast = super().report(job, epoch, value)
            slow = rule.should_stop(self._curves[job], self._curves[:job], direction, self._ended[:job])
            decisions.append((fast, slow))
            return fast

    decisions = []
    bench.simulate(pool, list(range(12)), Check(rule, direction), parallel=3)
    assert len(decisions) > 30
    assert any(fast for fast, _ in decisions)
    assert all(fast == slow for fast, slow in decisions)


def row(loss=0.0, stopped=0.0, budget=100.0, saved=50.0):
    return {"rel_loss_pct": loss, "best_stopped_pct": stopped, "budget_at_least_pct": budget, "saved_pct": saved}


def test_the_choice_meets_the_targets_first_then_saves_most():
    results = {
        "bold": {"a": row(saved=80, loss=0.6), "b": row(saved=80)},
        "safe": {"a": row(saved=30), "b": row(saved=30)},
        "good": {"a": row(saved=50), "b": row(saved=45, stopped=10)},
    }
    assert bench.choose(results, ["a", "b"]) == "good"
    assert bench.choose(results, ["b"]) == "bold"


def test_leave_one_out_scores_the_choice_on_the_workload_it_did_not_see():
    results = {
        "fits-a-b": {"a": row(saved=60), "b": row(saved=60), "c": row(saved=60, loss=3.0)},
        "fits-all": {"a": row(saved=40), "b": row(saved=40), "c": row(saved=40)},
    }
    folds = {fold["held_out"]: fold for fold in bench.leave_one_out(results)}
    assert folds["c"]["chosen"] == "fits-a-b" and folds["c"]["rel_loss_pct"] == 3.0
    assert folds["a"]["chosen"] == "fits-all"
    assert bench.shortfall(folds["c"]) == pytest.approx(5.0)


def test_nulls_and_non_finite_values_are_nan_and_lengths_may_differ():
    document = curve_document()
    document["curves"][0]["values"][2] = None
    document["curves"][1]["values"][1] = math.inf
    document["curves"][2]["values"] = document["curves"][2]["values"][:2]
    document["curves"][3]["values"] = []
    curves = bench.parse_curves(document)
    assert math.isnan(curves.curves[0].values[2]) and math.isnan(curves.curves[1].values[1])
    assert [len(c.values) for c in curves.curves[2:4]] == [2, 0]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d["objective"].update(type="Sideways"), "objective.type must be Maximize or Minimize"),
        (lambda d: d.pop("objective"), "objective must be"),
        (lambda d: d.update(curves=d["curves"][:1]), "at least 2"),
        (lambda d: d["curves"][1]["values"].__setitem__(3, "0.5"), r"curves\[1\].values\[3\] \(epoch 4\)"),
        (lambda d: d["curves"][2].pop("seconds_per_epoch"), r"curves\[2\].seconds_per_epoch"),
        (lambda d: d["curves"][2].update(seconds_per_epoch=-1), r"curves\[2\].seconds_per_epoch"),
        (lambda d: d["curves"][0].pop("values"), r"curves\[0\] must be an object"),
    ],
)
def test_bad_files_are_refused_naming_the_place(change, message):
    document = curve_document()
    change(document)
    with pytest.raises(ValueError, match=message):
        bench.parse_curves(document)


def test_the_suite_reports_every_workload_and_the_leave_one_out_choice(tmp_path, capsys):
    for name, direction, finals in [
        ("up", "Maximize", (0.9, 0.5, 0.3, 0.2, 0.8, 0.1)),
        ("down", "Minimize", (0.2, 0.9, 0.5, 0.1, 0.7, 0.4)),
        ("flat", "Maximize", (0.5, 0.52, 0.51, 0.49, 0.5, 0.48)),
    ]:
        (tmp_path / f"{name}.json").write_text(json.dumps(curve_document(direction, finals)))
    args = ["--suite", str(tmp_path), "--seeds", "2", "--select-seeds", "2", "--jobs", "4", "--json"]
    assert bench.main(args) == 0
    document = json.loads(capsys.readouterr().out)
    assert set(document["rules"]) == {"up", "down", "flat"}
    assert set(document["rules"]["down"]) == set(bench.SUITE_RULES)
    assert set(document["configs"]) == {f"{p} x {j}" for p, j in bench.SUITE_CONFIGS}
    assert [fold["held_out"] for fold in document["leave_one_out"]] == ["down", "flat", "up"]
    labels = {bench._label(rule) for rule in bench.CANDIDATES}
    assert all(fold["chosen"] in labels for fold in document["leave_one_out"])
    assert document["chosen_on_all"] in labels


def test_the_suite_refuses_a_bad_file_with_its_name(tmp_path, capsys):
    (tmp_path / "broken.json").write_text(json.dumps({"objective": {"name": "x", "type": "Up"}, "curves": []}))
    with pytest.raises(SystemExit):
        bench.main(["--suite", str(tmp_path)])
    assert "broken.json: objective.type must be Maximize or Minimize" in capsys.readouterr().err


def test_json_output_is_keyed_by_rule(tmp_path, capsys):
    pytest.importorskip("optuna")
    path = tmp_path / "curves.json"
    path.write_text(json.dumps(curve_document("Minimize")))
    assert bench.main(["--curves", str(path), "--json", "--seeds", "3", "--jobs", "6"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"off", "auto", "sagemaker_median", "optuna_median", "optuna_sha"} <= set(summary)
    for entry in summary.values():
        assert {"saved_pct", "rel_loss_pct", "best_stopped_pct", "budget_at_least_pct", "cut_at_least_pct"} <= set(
            entry
        )
    assert summary["off"]["saved_pct"] == 0


def test_table_output(tmp_path, capsys):
    path = tmp_path / "curves.json"
    path.write_text(json.dumps(curve_document()))
    assert bench.main(["--curves", str(path), "--seeds", "2", "--rules", "auto,sagemaker_median"]) == 0
    out = capsys.readouterr().out
    assert "| off |" in out and "| auto |" in out and "| sagemaker_median |" in out


@pytest.mark.parametrize("path", sorted(CURVES_DIR.glob("*.json")), ids=lambda p: p.name)
def test_recorded_curve_files_are_valid(path):
    curves = bench.load_curves(path)
    assert len(curves.curves) >= 100
    assert all(c.seconds_per_epoch > 0 and c.values for c in curves.curves)


def test_a_replay_is_keyed_by_its_seeds_too(tmp_path):
    """A rule with a candidate's settings has the candidate's label: the suite must not mix their seeds."""
    path = tmp_path / "two.json"
    curve = {"values": [0.1, 0.2], "seconds_per_epoch": 1.0}
    path.write_text(json.dumps({"objective": {"name": "m", "type": "Maximize"}, "curves": [curve, curve]}))
    tasks = [(str(path), "off", 1, 2, 3), (str(path), "off", 1, 2, 2)]
    assert list(bench.run_tasks(tasks, workers=1)) == tasks
