"""What each recorded workload of the early-stopping corpus looks like, in numbers.

    python -m bench.corpus_summary [FILE ...] [--json]

Reads every curve file (default: bench/curves/*.json) with the replay's own reader
(`bench.early_stopping.parse_curves`) and prints one row per file, so that what
docs/benchmarks.md says of a workload ("heavy-tailed", "slow starters", "overfits")
is a figure anyone can recompute:

- curves, epochs (shortest..longest), direction;
- final objective (a job's last value, as on SageMaker): 10th / 50th / 90th
  percentile and the best, over the curves whose final value is finite;
- s/epoch: mean measured seconds per epoch; recorded: the recording's wall time;
- non-finite %: curves with at least one NaN/inf value (diverged runs);
- overfit %: curves whose final value is more than 5 % of |own best| worse than their
  own best; best at: for those, the median epoch of their best as a fraction of length;
- top-5 @2 and top-5 @25 %: where the five jobs with the best final values ranked
  among all jobs after epoch 2 and after a quarter of the epochs, as the median of
  their five percentiles, 0 % = ranked first, 100 % = ranked last (a non-finite value
  ranks last). Above 50 %: the eventual best jobs were in the lower half then, the
  slow starters early stopping must not stop;
- early/final: the median epoch-1 value over the median final value (Minimize: how
  many times larger the first errors are); worst/final: the worst finite value in the
  file over the median final value (Minimize: the heavy tail of diverging runs);
- reversals %: of all pairs of successive epoch-to-epoch changes (changes of zero and
  non-finite ones left out), the share where the direction turns: near 0 for smooth
  curves, converging or overfitting alike (an overfitting curve turns once), around
  50 % and above for a curve that jitters;
- jitter %: how far the objective moves from one epoch to the next late in a run,
  against how far apart the jobs end: the median over curves of the median absolute
  change over the second half of the epochs, as a percentage of the 10th-90th
  percentile range of the final values. Near 0 when a curve's late wiggles are small
  beside the differences early stopping has to judge; tens of percent when a job's
  value at any epoch is a poor guide to its neighbour's.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.early_stopping import parse_curves
from jobs.tuning.strategies.base import Direction

CURVES = Path(__file__).resolve().parent / "curves"
OVERFIT_MARGIN = 0.05


@dataclass(frozen=True)
class Summary:
    file: str
    curves: int
    epochs: str
    direction: str
    final_p10: float
    final_p50: float
    final_p90: float
    final_best: float
    seconds_per_epoch: float
    recorded_seconds: float | None
    non_finite_percent: float
    overfit_percent: float
    overfit_best_at: float | None
    top5_at_epoch2: float | None
    top5_at_quarter: float | None
    early_over_final: float | None
    worst_over_final: float | None
    reversals_percent: float
    jitter_percent: float | None


def _ranks_percent(values: np.ndarray, sign: float) -> np.ndarray:
    """Each job's rank among all as a percentage, 0 = best; NaN ranks last, ties share the better rank."""
    scores = np.where(np.isfinite(values), sign * values, np.inf)  # lower score is better
    order = np.searchsorted(np.sort(scores), scores, side="left")
    return 100.0 * order / max(len(values) - 1, 1)


def _top5_percentile(curves: list[np.ndarray], finals: np.ndarray, sign: float, epoch: int) -> float | None:
    """Median percentile, at `epoch` (1-based), of the five jobs with the best final values."""
    reached = [i for i, c in enumerate(curves) if len(c) >= epoch]
    if len(reached) < 10:
        return None
    ranks = _ranks_percent(np.array([curves[i][epoch - 1] for i in reached]), sign)
    final_scores = np.where(np.isfinite(finals[reached]), sign * finals[reached], np.inf)
    top = np.argsort(final_scores, kind="stable")[:5]
    return float(np.median(ranks[top]))


def summarise(path: Path) -> Summary:
    document = json.loads(path.read_text(encoding="utf-8"))
    parsed = parse_curves(document)
    sign = -1.0 if parsed.direction == Direction.MAXIMIZE else 1.0  # sign * value: lower is better
    curves = [np.array(c.values, dtype=float) for c in parsed.curves]
    lengths = [len(c) for c in curves]
    finals = np.array([c[-1] if len(c) else math.nan for c in curves])
    finite_finals = finals[np.isfinite(finals)]
    percentiles = np.percentile(finite_finals, [10, 50, 90]) if len(finite_finals) else [math.nan] * 3
    best_final = float(-sign * np.max(-sign * finite_finals)) if len(finite_finals) else math.nan

    overfit_positions = []
    for curve in curves:
        finite = np.where(np.isfinite(curve), sign * curve, np.inf)
        if not len(curve) or not np.isfinite(finite).any() or not math.isfinite(curve[-1]):
            continue
        own_best = finite.min()
        if sign * curve[-1] - own_best > OVERFIT_MARGIN * abs(own_best):
            overfit_positions.append((int(finite.argmin()) + 1) / len(curve))
    reversals = pairs = 0
    for curve in curves:
        changes = np.diff(curve)
        directions = np.sign(changes[np.isfinite(changes) & (changes != 0)])
        reversals += int(np.sum(directions[1:] != directions[:-1]))
        pairs += max(len(directions) - 1, 0)

    late_changes = [np.abs(np.diff(c[len(c) // 2 :])) for c in curves if len(c) >= 4]
    late_medians = [np.median(d[np.isfinite(d)]) for d in late_changes if np.isfinite(d).any()]
    spread = float(percentiles[2] - percentiles[0])
    jitter = 100.0 * float(np.median(late_medians)) / abs(spread) if late_medians and spread else None
    median_final = float(np.median(finite_finals)) if len(finite_finals) else math.nan
    first = np.array([c[0] for c in curves if len(c) and math.isfinite(c[0])])
    all_finite = np.concatenate([c[np.isfinite(c)] for c in curves]) if curves else np.array([])
    ratio_ok = median_final != 0 and math.isfinite(median_final)
    quarter = max(2, round(0.25 * min(lengths)))
    recorded = document.get("recorded", {}).get("wall_seconds")
    return Summary(
        file=path.name,
        curves=len(curves),
        epochs=f"{min(lengths)}" if min(lengths) == max(lengths) else f"{min(lengths)}-{max(lengths)}",
        direction=str(parsed.direction),
        final_p10=float(percentiles[0]),
        final_p50=float(percentiles[1]),
        final_p90=float(percentiles[2]),
        final_best=best_final,
        seconds_per_epoch=float(np.mean([c.seconds_per_epoch for c in parsed.curves])),
        recorded_seconds=recorded,
        non_finite_percent=100.0 * np.mean([not np.isfinite(c).all() for c in curves]),
        overfit_percent=100.0 * len(overfit_positions) / len(curves),
        overfit_best_at=float(np.median(overfit_positions)) if overfit_positions else None,
        top5_at_epoch2=_top5_percentile(curves, finals, sign, 2),
        top5_at_quarter=_top5_percentile(curves, finals, sign, quarter),
        early_over_final=float(np.median(first) / median_final) if ratio_ok and len(first) else None,
        worst_over_final=float(all_finite[np.argmax(sign * all_finite)] / median_final)
        if ratio_ok and len(all_finite)
        else None,
        reversals_percent=100.0 * reversals / pairs if pairs else 0.0,
        jitter_percent=jitter,
    )


def _number(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.1e}"


COLUMNS = (
    ("file", lambda s: s.file),
    ("curves", lambda s: str(s.curves)),
    ("epochs", lambda s: s.epochs),
    ("direction", lambda s: s.direction),
    ("final p10 / p50 / p90", lambda s: " / ".join(_number(v) for v in (s.final_p10, s.final_p50, s.final_p90))),
    ("best", lambda s: _number(s.final_best)),
    ("s/epoch", lambda s: f"{s.seconds_per_epoch:.3f}"),
    ("recorded s", lambda s: _number(s.recorded_seconds)),
    ("non-finite %", lambda s: f"{s.non_finite_percent:.0f}"),
    ("overfit % (best at)", lambda s: f"{s.overfit_percent:.0f} ({_number(s.overfit_best_at)})"),
    ("top-5 @2", lambda s: _number(s.top5_at_epoch2)),
    ("top-5 @25 %", lambda s: _number(s.top5_at_quarter)),
    ("early/final", lambda s: _number(s.early_over_final)),
    ("worst/final", lambda s: _number(s.worst_over_final)),
    ("reversals %", lambda s: f"{s.reversals_percent:.0f}"),
    ("jitter %", lambda s: _number(s.jitter_percent)),
)


def table(summaries: list[Summary]) -> str:
    rows = [[name for name, _ in COLUMNS], ["---"] * len(COLUMNS)]
    rows += [[cell(s) for _, cell in COLUMNS] for s in summaries]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path, help="curve files (default: bench/curves/*.json)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON, keyed by file name")
    args = parser.parse_args(argv)
    files = args.files or sorted(CURVES.glob("*.json"))
    if not files:
        parser.error(f"no curve files given and none in {CURVES}")
    summaries = [summarise(path) for path in files]
    if args.json:
        print(json.dumps({s.file: asdict(s) for s in summaries}, indent=1))
    else:
        print(table(summaries))
    return 0


if __name__ == "__main__":
    sys.exit(main())
