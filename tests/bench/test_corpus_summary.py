import json
import math

import numpy as np
import pytest

from bench import corpus_summary

FAST = [[1.0, 0.8, 0.7, 0.6 + 0.01 * i] for i in range(5)]
DIVERGED = [1.0, 0.8, math.nan, 0.65]
OVERFIT = [1.0, 0.8, 0.5, 0.9]  # ends 80 % above its best, reached at epoch 3 of 4
# Worst of all after epoch 2, best of all at the end.
SLOW = [[2.0, 1.5 + 0.1 * j, 0.5, 0.3 + 0.01 * j] for j in range(5)]
CURVES = [*FAST, [1.0, 0.8, 0.7, 0.7], DIVERGED, OVERFIT, *SLOW]  # 13 curves, losses


def write(tmp_path, direction):
    sign = 1 if direction == "Minimize" else -1
    document = {
        "objective": {"name": "validation:loss", "type": direction},
        "recorded": {"wall_seconds": 42.0},
        "curves": [
            {
                "values": [None if math.isnan(v) else sign * v for v in values],
                "seconds_per_epoch": 0.5 if i else 1.0,
            }
            for i, values in enumerate(CURVES)
        ],
    }
    path = tmp_path / f"{direction}.json"
    path.write_text(json.dumps(document))
    return path


@pytest.mark.parametrize("direction", ["Minimize", "Maximize"])
def test_figures_of_a_file(tmp_path, direction):
    sign = 1 if direction == "Minimize" else -1

    summary = corpus_summary.summarise(write(tmp_path, direction))

    assert summary.curves == 13 and summary.epochs == "4" and summary.direction == direction
    assert summary.final_best == pytest.approx(sign * 0.3)
    assert summary.final_p50 == pytest.approx(sign * 0.61)  # the 7th of the 13 finals
    assert summary.seconds_per_epoch == pytest.approx((1.0 + 12 * 0.5) / 13)
    assert summary.recorded_seconds == 42.0
    assert summary.non_finite_percent == pytest.approx(100 / 13)
    assert summary.overfit_percent == pytest.approx(100 / 13)
    assert summary.overfit_best_at == 0.75
    # The five slow curves rank 8th..12th of 13 after epoch 2 (the 8 others tie first):
    # percentiles 8/12 .. 12/12, median 10/12.
    assert summary.top5_at_epoch2 == pytest.approx(100 * 10 / 12)
    assert summary.top5_at_quarter == summary.top5_at_epoch2  # a quarter of 4 epochs is still epoch 2
    # Only the overfit curve turns, once; 23 pairs of successive changes in all (a flat
    # step and the NaN's steps left out).
    assert summary.reversals_percent == pytest.approx(100 / 23)
    # Changes from epoch 3 to 4: 0.10 .. 0.06 (FAST), 0 (flat), 0.4 (OVERFIT), 0.20 .. 0.16
    # (SLOW), DIVERGED's left out: median 0.13, against the 10th-90th percentile range of finals.
    p10, p90 = np.percentile([c[-1] for c in CURVES], [10, 90])
    assert summary.jitter_percent == pytest.approx(100 * 0.13 / (p90 - p10))
    assert summary.early_over_final == pytest.approx(1.0 / 0.61)
    assert summary.worst_over_final == pytest.approx(2.0 / 0.61)


def test_fewer_than_ten_curves_give_no_top5_figure(tmp_path):
    path = tmp_path / "few.json"
    path.write_text(
        json.dumps(
            {
                "objective": {"name": "m", "type": "Minimize"},
                "curves": [{"values": [1.0, 0.5], "seconds_per_epoch": 1}] * 9,
            }
        )
    )

    assert corpus_summary.summarise(path).top5_at_epoch2 is None


def test_main_prints_a_row_per_file_or_json(tmp_path, capsys):
    files = [str(write(tmp_path, "Minimize")), str(write(tmp_path, "Maximize"))]

    assert corpus_summary.main(files) == 0
    table = capsys.readouterr().out
    assert corpus_summary.main([*files, "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)

    assert "| Minimize.json | 13 | 4 | Minimize |" in table and "| Maximize.json | 13 |" in table
    assert figures["Maximize.json"]["final_best"] == pytest.approx(-0.3)
