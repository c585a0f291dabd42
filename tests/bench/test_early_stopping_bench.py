import json
import math
from pathlib import Path

import pytest

from bench import early_stopping as bench
from jobs.tuning.early_stopping import EarlyStoppingRule, MedianStoppingRule
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


class AlwaysStop(EarlyStoppingRule):
    name = "always"

    def should_stop(self, current, previous, direction):
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


def test_equal_budget_counts_only_jobs_off_had_finished():
    runs = [bench.JobRun(0, 0, 4, 4, 0.1, False), bench.JobRun(1, 0, 2, 2, 0.9, False)]
    # At 4 s of training time in all, both slots have run 2 s: only job 1 has ended.
    assert bench.finished_within(runs, 4.0) == [runs[1]]
    assert bench.finished_within(runs, 3.9) == []
    assert bench.finished_within(runs, 6.0) == runs


def test_nulls_are_nan_and_bad_files_are_refused():
    document = curve_document()
    document["curves"][0]["values"][2] = None
    assert math.isnan(bench.parse_curves(document).curves[0].values[2])
    with pytest.raises(ValueError):
        bench.parse_curves({"objective": {"name": "x", "type": "Sideways"}, "curves": []})
    with pytest.raises(ValueError):
        bench.parse_curves({"objective": {"name": "x", "type": "Maximize"}, "curves": []})


def test_json_output_is_keyed_by_rule(tmp_path, capsys):
    pytest.importorskip("optuna")
    path = tmp_path / "curves.json"
    path.write_text(json.dumps(curve_document("Minimize")))
    assert bench.main(["--curves", str(path), "--json", "--seeds", "3", "--jobs", "6"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"off", "auto", "sagemaker_median", "optuna_median", "optuna_sha"} <= set(summary)
    for entry in summary.values():
        assert {"saved_pct", "rel_loss_pct", "best_stopped_pct", "equal_budget_win_pct"} <= set(entry)
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
