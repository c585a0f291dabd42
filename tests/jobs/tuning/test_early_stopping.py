import math

import pytest

from jobs.tuning.early_stopping import (
    DEFAULT_RULE,
    RULES,
    BestSoFarRankRule,
    CorrelationGatedEnvelopeRule,
    EarlyStoppingRule,
    ExtrapolatedEnvelopeRule,
    Finisher,
    Leader,
    LeaderEnvelopeRule,
    MedianStoppingRule,
    correlation_lower_bound,
    finishers_at,
    leaders_at,
    rank_correlation,
)
from jobs.tuning.strategies.base import Direction

MAX = Direction.MAXIMIZE
MIN = Direction.MINIMIZE
NAN = math.nan

# Three previous jobs whose running averages after epoch 2 are 0.5, 0.6 and 0.7:
# the median is 0.6.
PREVIOUS = [[0.4, 0.6, 0.9], [0.5, 0.7, 0.9], [0.6, 0.8, 0.9]]


def negated(curves):
    return [[-v for v in curve] for curve in curves]


class TestMedianStoppingRule:
    rule = MedianStoppingRule()

    def test_name_is_sagemaker_median_and_registered(self):
        assert MedianStoppingRule.name == "sagemaker_median"
        assert RULES["sagemaker_median"] is MedianStoppingRule

    def test_defaults_are_the_documented_guards(self):
        assert (self.rule.min_previous_jobs, self.rule.grace_epochs) == (3, 1)

    def test_stops_below_the_median_of_running_averages(self):
        assert self.rule.should_stop([0.9, 0.59], PREVIOUS, MAX)

    def test_keeps_at_or_above_the_median(self):
        assert not self.rule.should_stop([0.1, 0.6], PREVIOUS, MAX)
        assert not self.rule.should_stop([0.1, 0.61], PREVIOUS, MAX)

    def test_compares_running_averages_not_values_at_the_epoch(self):
        # The previous jobs' values at epoch 2 are 0.6, 0.7, 0.8 (median 0.7); their
        # running averages have median 0.6. 0.65 is between: kept.
        assert not self.rule.should_stop([0.0, 0.65], PREVIOUS, MAX)

    def test_minimize_mirrors_maximize(self):
        assert self.rule.should_stop([-0.9, -0.59], negated(PREVIOUS), MIN)
        assert not self.rule.should_stop([-0.1, -0.61], negated(PREVIOUS), MIN)

    def test_grace_epochs(self):
        assert not self.rule.should_stop([0.0], PREVIOUS, MAX)  # epoch 1: never
        assert not MedianStoppingRule(grace_epochs=2).should_stop([0.0, 0.0], PREVIOUS, MAX)
        assert MedianStoppingRule(grace_epochs=0).should_stop([0.0], PREVIOUS, MAX)

    def test_needs_min_previous_jobs_that_reached_the_epoch(self):
        assert not self.rule.should_stop([0.0, 0.0], PREVIOUS[:2], MAX)
        # A third job that has reported only epoch 1 does not count at epoch 2.
        assert not self.rule.should_stop([0.0, 0.0], [*PREVIOUS[:2], [0.9]], MAX)
        assert MedianStoppingRule(min_previous_jobs=2).should_stop([0.0, 0.0], PREVIOUS[:2], MAX)

    def test_no_previous_jobs_never_stops(self):
        assert not self.rule.should_stop([0.0, 0.0, 0.0], [], MAX)

    def test_a_job_that_never_reported_is_never_stopped(self):
        assert not self.rule.should_stop([], PREVIOUS, MAX)
        assert not self.rule.should_stop([], PREVIOUS, MIN)

    def test_non_finite_current_value_stops_after_grace(self):
        assert self.rule.should_stop([0.9, NAN], PREVIOUS, MAX)
        assert self.rule.should_stop([0.9, math.inf], negated(PREVIOUS), MIN)
        assert not self.rule.should_stop([NAN], PREVIOUS, MAX)  # still in grace

    def test_previous_curves_with_nan_are_left_out(self):
        # Without the NaN job only two previous jobs reached epoch 2: not enough.
        previous = [*PREVIOUS[:2], [NAN, 0.9, 0.9]]
        assert not self.rule.should_stop([0.0, 0.0], previous, MAX)

    def test_bad_settings_are_refused(self):
        with pytest.raises(ValueError):
            MedianStoppingRule(min_previous_jobs=0)
        with pytest.raises(ValueError):
            MedianStoppingRule(grace_epochs=-1)


# Six previous jobs whose running averages after epoch 2 are 0.1 ... 0.6: the top third
# starts at their 2/3 quantile, 0.4333.
SIX = [[a - 0.05, a + 0.05, 0.9] for a in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6)]
TOP_THIRD = 0.1 + (0.6 - 0.1) * 2 / 3


class TestBestSoFarRankRule:
    rule = BestSoFarRankRule()

    def test_registered_under_its_name(self):
        assert RULES["best_so_far_rank"] is BestSoFarRankRule

    def test_defaults(self):
        assert self.rule.keep_fraction == pytest.approx(1 / 3)
        assert (self.rule.min_previous_jobs, self.rule.grace_epochs) == (3, 1)

    def test_stops_below_the_top_third_of_running_averages(self):
        assert self.rule.should_stop([0.0, TOP_THIRD - 0.01], SIX, MAX)
        assert not self.rule.should_stop([0.0, TOP_THIRD + 0.01], SIX, MAX)

    def test_judges_the_best_so_far_not_the_latest_value(self):
        # A dip at epoch 2 after a good epoch 1 is not a reason to stop.
        assert not self.rule.should_stop([0.5, 0.0], SIX, MAX)
        assert MedianStoppingRule().should_stop([0.5, 0.0], SIX, MAX)

    def test_stricter_than_the_median(self):
        # Above the median of the averages (0.35) but below the top third: stopped.
        assert self.rule.should_stop([0.0, 0.4], SIX, MAX)
        assert not BestSoFarRankRule(keep_fraction=0.5).should_stop([0.0, 0.4], SIX, MAX)

    def test_minimize_mirrors_maximize(self):
        assert self.rule.should_stop([0.0, -TOP_THIRD + 0.01], negated(SIX), MIN)
        assert not self.rule.should_stop([0.0, -TOP_THIRD - 0.01], negated(SIX), MIN)
        assert not self.rule.should_stop([-0.5, 0.0], negated(SIX), MIN)

    def test_grace_epochs(self):
        assert not self.rule.should_stop([0.0], SIX, MAX)
        assert BestSoFarRankRule(grace_epochs=0).should_stop([0.0], SIX, MAX)
        assert not BestSoFarRankRule(grace_epochs=2).should_stop([0.0, 0.0], SIX, MAX)

    def test_needs_min_previous_jobs_that_reached_the_epoch(self):
        assert not self.rule.should_stop([0.0, 0.0], SIX[:2], MAX)
        assert not self.rule.should_stop([0.0, 0.0], [*SIX[:2], [0.9]], MAX)
        assert self.rule.should_stop([0.0, 0.0], SIX[:3], MAX)
        assert BestSoFarRankRule(min_previous_jobs=2).should_stop([0.0, 0.0], SIX[:2], MAX)

    def test_a_job_that_never_reported_is_never_stopped(self):
        for rule in (self.rule, BestSoFarRankRule(grace_epochs=0)):
            assert not rule.should_stop([], SIX, MAX)
            assert not rule.should_stop([], SIX, MIN)

    def test_nan(self):
        assert self.rule.should_stop([0.9, NAN], SIX, MAX)  # diverged: stop
        assert self.rule.should_stop([-0.9, math.inf], negated(SIX), MIN)
        assert not self.rule.should_stop([NAN], SIX, MAX)  # still in grace
        # An earlier NaN does not count as the best; the finite values are judged.
        assert not self.rule.should_stop([NAN, 0.5], SIX, MAX)
        # Previous curves with a NaN are left out: two left, not enough.
        assert not self.rule.should_stop([0.0, 0.0], [*SIX[:2], [NAN, 0.5, 0.9]], MAX)

    def test_bad_settings_are_refused(self):
        for bad in ({"keep_fraction": 0}, {"keep_fraction": 1.5}, {"min_previous_jobs": 0}, {"grace_epochs": -1}):
            with pytest.raises(ValueError):
                BestSoFarRankRule(**bad)


def test_the_default_rule_is_the_benchmarks_choice():
    assert isinstance(DEFAULT_RULE, EarlyStoppingRule)
    assert RULES[DEFAULT_RULE.name] is type(DEFAULT_RULE)
    # Chosen by `python -m bench.early_stopping --suite` (docs/benchmarks.md): update both together.
    assert DEFAULT_RULE == LeaderEnvelopeRule(leaders=5, lag=0.5, grace_fraction=0.2)


class TestLeaderEnvelopeRule:
    # Three ended jobs: finals 0.9, 0.8, 0.7; the fourth ended worst and leads nothing.
    PREVIOUS = [[0.2, 0.5, 0.9], [0.4, 0.6, 0.8], [0.5, 0.6, 0.7], [0.6, 0.6, 0.1]]
    ENDED = [True, True, True, True]
    rule = LeaderEnvelopeRule()

    def test_registered_under_its_name(self):
        assert RULES["leader_envelope"] is LeaderEnvelopeRule

    def test_stops_a_job_behind_every_leader_at_its_age(self):
        # At epoch 2 the leaders' bests were 0.5, 0.6, 0.6: the envelope is 0.5.
        assert self.rule.should_stop([0.3, 0.45], self.PREVIOUS, MAX, self.ENDED)
        assert not self.rule.should_stop([0.3, 0.5], self.PREVIOUS, MAX, self.ENDED)

    def test_a_slow_starter_that_ended_best_sets_the_bar(self):
        # Job 0 (final 0.9) was at 0.2 after epoch 1... and at 0.5 after epoch 2; a job
        # at 0.5 has not fallen behind it, though it is behind the fast starters.
        assert not self.rule.should_stop([0.1, 0.5], self.PREVIOUS, MAX, self.ENDED)

    def test_judges_the_best_so_far_not_the_latest_value(self):
        assert not self.rule.should_stop([0.55, 0.2], self.PREVIOUS, MAX, self.ENDED)

    def test_only_ended_jobs_lead(self):
        # Job 0 still running: the leaders are jobs 1, 2 and 3 (envelope at epoch 2: 0.6).
        ended = [False, True, True, True]
        assert self.rule.should_stop([0.3, 0.55], self.PREVIOUS, MAX, ended)
        # Fewer ended jobs than leaders: no decision.
        assert not self.rule.should_stop([0.0, 0.0], self.PREVIOUS, MAX, [False, False, True, True])
        assert not self.rule.should_stop([0.0, 0.0], self.PREVIOUS, MAX)

    def test_minimize_mirrors_maximize(self):
        previous = negated(self.PREVIOUS)
        assert self.rule.should_stop([-0.3, -0.45], previous, MIN, self.ENDED)
        assert not self.rule.should_stop([-0.3, -0.5], previous, MIN, self.ENDED)

    def test_lag_compares_with_the_leaders_younger(self):
        rule = LeaderEnvelopeRule(lag=0.5)
        # At epoch 2, lag 0.5 compares with the leaders after epoch 1 (0.2, 0.4, 0.5): envelope 0.2.
        assert not rule.should_stop([0.1, 0.3], self.PREVIOUS, MAX, self.ENDED)
        assert rule.should_stop([0.1, 0.15], self.PREVIOUS, MAX, self.ENDED)
        assert rule.leader_epoch(3) == 2 and rule.leader_epoch(1) == 1

    def test_fewer_leaders(self):
        rule = LeaderEnvelopeRule(leaders=1)
        # The one leader (final 0.9) had 0.5 after epoch 2.
        assert rule.should_stop([0.3, 0.45], self.PREVIOUS, MAX, self.ENDED)
        assert not rule.should_stop([0.3, 0.5], self.PREVIOUS, MAX, [True, False, False, False])

    def test_grace(self):
        assert not self.rule.should_stop([0.0], self.PREVIOUS, MAX, self.ENDED)  # grace_epochs=1
        rule = LeaderEnvelopeRule(grace_fraction=0.7)  # leaders ran 3 epochs: no decision up to 2.1
        assert not rule.should_stop([0.0, 0.0], self.PREVIOUS, MAX, self.ENDED)
        assert rule.should_stop([0.0, 0.0, 0.0], self.PREVIOUS, MAX, self.ENDED)

    def test_leaders_must_have_reached_the_epoch(self):
        short = [[0.9], [0.9], [0.9]]
        assert not self.rule.should_stop([0.0, 0.0], short, MAX, [True] * 3)

    def test_non_finite_values(self):
        assert self.rule.should_stop([0.5, NAN], self.PREVIOUS, MAX, self.ENDED)
        assert not self.rule.should_stop([NAN], self.PREVIOUS, MAX, self.ENDED)  # grace
        # A leader whose final is not finite leads nothing; NaN inside a curve is never its best.
        previous = [[0.2, 0.5, NAN], [0.4, NAN, 0.8], [0.5, 0.6, 0.7], [0.6, 0.6, 0.1]]
        assert leaders_at(previous, self.ENDED, 2, 3, MAX) == [
            Leader(0.4, 3, 0.8),
            Leader(0.6, 3, 0.7),
            Leader(0.6, 3, 0.1),
        ]
        # A current curve with NaN before its latest value is judged on its finite values.
        assert not self.rule.should_stop([NAN, 0.55], previous, MAX, self.ENDED)

    def test_a_job_that_never_reported_is_never_stopped(self):
        assert not self.rule.should_stop([], self.PREVIOUS, MAX, self.ENDED)

    def test_bad_settings_are_refused(self):
        for bad in (
            {"leaders": 0},
            {"lag": 0},
            {"lag": 1.5},
            {"window": 0},
            {"grace_epochs": -1},
            {"grace_fraction": 1},
        ):
            with pytest.raises(ValueError):
                LeaderEnvelopeRule(**bad)


class TestLeaderEnvelopeWindow:
    PREVIOUS = TestLeaderEnvelopeRule.PREVIOUS
    ENDED = TestLeaderEnvelopeRule.ENDED

    def test_window_judges_the_recent_epochs(self):
        rule = LeaderEnvelopeRule(window=0.5)
        # Best of the last two of four epochs (0.3) against the leaders' best of epochs 3..4? They
        # ran three epochs: s = 4 is out of their reach, so no leaders and no decision.
        assert not rule.should_stop([0.9, 0.9, 0.3, 0.3], self.PREVIOUS, MAX, self.ENDED)
        # At epoch 2: the job's last epoch (0.3) against each leader's epoch 2 (0.5, 0.6, 0.6).
        assert rule.should_stop([0.9, 0.3], self.PREVIOUS, MAX, self.ENDED)
        assert not LeaderEnvelopeRule().should_stop([0.9, 0.3], self.PREVIOUS, MAX, self.ENDED)


class TestRankCorrelation:
    def test_spearman_with_average_ranks_for_ties(self):
        assert rank_correlation([1, 2, 3, 4], [10, 20, 40, 30]) == pytest.approx(0.8)
        assert rank_correlation([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
        # Ties share their mean rank (scipy.stats.spearmanr gives 0.866 too).
        assert rank_correlation([1, 1, 2], [3, 4, 5]) == pytest.approx(math.sqrt(3) / 2)

    def test_a_constant_sequence_correlates_with_nothing(self):
        assert rank_correlation([1, 1, 1], [1, 2, 3]) == 0.0

    def test_the_lower_bound_asks_more_of_few_pairs(self):
        assert correlation_lower_bound(1.0, 3, 1.0) == -1.0  # three pairs rank perfectly one time in six
        few, many = correlation_lower_bound(0.9, 6, 1.0), correlation_lower_bound(0.9, 50, 1.0)
        assert few < many < 0.9
        assert correlation_lower_bound(0.9, 6, 0.0) == pytest.approx(0.9)


class TestCorrelationGatedEnvelopeRule:
    # Six ended jobs whose bests after epoch 2 rank their finals exactly: the gate opens there.
    PREVIOUS = [
        [0.05, 0.10, 0.10],
        [0.1, 0.20, 0.20],
        [0.1, 0.30, 0.30],
        [0.1, 0.40, 0.40],
        [0.1, 0.50, 0.50],
        [0.1, 0.60, 0.90],
    ]
    ENDED = [True] * 6
    rule = CorrelationGatedEnvelopeRule(gate_correlation=0.5, gate_leaders=3)

    def test_registered_under_its_name_with_the_envelope_of_auto(self):
        assert RULES["correlation_gated_envelope"] is CorrelationGatedEnvelopeRule
        rule = CorrelationGatedEnvelopeRule()
        assert (rule.leaders, rule.lag, rule.grace_fraction) == (5, 0.5, 0.2)
        # The benchmark's choice among the gated variants (docs/benchmarks.md).
        assert (rule.gate_jobs, rule.gate_correlation, rule.gate_confidence, rule.gate_leaders) == (5, 0.8, 1, 5)

    def test_an_open_gate_stops_a_job_behind_the_gate_leaders_at_its_age(self):
        # Gate leaders (best finals 0.9, 0.5, 0.4) had 0.6, 0.5, 0.4 at epoch 2: the bar is 0.4.
        assert self.rule.should_stop([0.0, 0.35], self.PREVIOUS, MAX, self.ENDED)
        assert not self.rule.should_stop([0.0, 0.45], self.PREVIOUS, MAX, self.ENDED)
        # The envelope alone waits for its grace (a fifth of 3 epochs: past it at 2) and compares
        # with its five leaders at epoch 1 (0.1 ... 0.5): 0.35 is not behind them all.
        assert not LeaderEnvelopeRule(leaders=5, lag=0.5, grace_fraction=0.2).should_stop(
            [0.0, 0.35], self.PREVIOUS, MAX, self.ENDED
        )

    def test_a_shut_gate_leaves_the_decision_to_the_envelope(self):
        # Bests after epoch 2 ranked backwards against the finals: the gate stays shut.
        backwards = [[c[0], 0.7 - c[1], c[2]] for c in self.PREVIOUS]
        assert not self.rule.gate_open(finishers_at(backwards, self.ENDED, 2, MAX), MAX)
        assert not self.rule.should_stop([0.0, 0.35], backwards, MAX, self.ENDED)
        # Constant bests predict nothing either.
        flat = [[0.5, 0.5, c[2]] for c in self.PREVIOUS]
        assert not self.rule.gate_open(finishers_at(flat, self.ENDED, 2, MAX), MAX)

    def test_the_gate_needs_enough_ended_jobs(self):
        assert not self.rule.should_stop([0.0, 0.35], self.PREVIOUS, MAX, [False] * 2 + [True] * 4)
        assert not CorrelationGatedEnvelopeRule(gate_correlation=0.5, gate_leaders=3, gate_jobs=7).should_stop(
            [0.0, 0.35], self.PREVIOUS, MAX, self.ENDED
        )

    def test_history_keeps_the_most_recent_finishers(self):
        assert finishers_at(self.PREVIOUS, self.ENDED, 2, MAX, history=2) == [Finisher(0.5, 0.5), Finisher(0.6, 0.9)]
        assert not self.rule.should_stop([0.0, 0.35], self.PREVIOUS, MAX, self.ENDED[:4] + [False, False])

    def test_minimize_mirrors_maximize(self):
        previous = negated(self.PREVIOUS)
        assert self.rule.should_stop([0.0, -0.35], previous, MIN, self.ENDED)
        assert not self.rule.should_stop([0.0, -0.45], previous, MIN, self.ENDED)

    def test_non_finite_values(self):
        assert self.rule.should_stop([0.5, NAN], self.PREVIOUS, MAX, self.ENDED)
        assert not self.rule.should_stop([NAN], self.PREVIOUS, MAX, self.ENDED)  # grace
        # A finisher with no finite value at epoch t ranks last there and sets no bar.
        previous = [[NAN, NAN, 0.05], *self.PREVIOUS]
        assert self.rule.gate_open(finishers_at(previous, [True] * 7, 2, MAX), MAX)
        assert self.rule.should_stop([0.0, 0.35], previous, MAX, [True] * 7)
        assert not self.rule.should_stop([], self.PREVIOUS, MAX, self.ENDED)

    def test_bad_settings_are_refused(self):
        for bad in (
            {"gate_jobs": 3},
            {"gate_correlation": 1.5},
            {"gate_confidence": -1},
            {"gate_leaders": 0},
            {"gate_history": 2},
            {"leaders": 0},
        ):
            with pytest.raises(ValueError):
                CorrelationGatedEnvelopeRule(**bad)


class TestExtrapolatedEnvelopeRule:
    # Five ended jobs of 10 epochs; the best (final 0.9) started slowly, so the envelope at half
    # the age (epoch 2 for a job at epoch 4) is 0.1 and stops nothing above it.
    PREVIOUS = [
        [0.1] * 5 + [0.9] * 5,
        [0.6] * 9 + [0.8],
        [0.6] * 10,
        [0.55] * 10,
        [0.5] * 10,
    ]
    ENDED = [True] * 5
    rule = ExtrapolatedEnvelopeRule()

    def test_registered_with_auto_envelope_and_the_benchmarks_settings(self):
        assert RULES["extrapolated_envelope"] is ExtrapolatedEnvelopeRule
        rule = ExtrapolatedEnvelopeRule()
        assert (rule.leaders, rule.lag, rule.grace_fraction) == (5, 0.5, 0.2)
        # The suite's choice on all workloads (docs/benchmarks.md).
        assert (rule.growth, rule.noise, rule.extrapolation_grace) == (1, 2, 0.1)

    def test_stops_a_flat_job_below_the_best_final(self):
        flat = [0.5, 0.5, 0.5, 0.5]
        assert self.rule.should_stop(flat, self.PREVIOUS, MAX, self.ENDED)
        # The envelope alone keeps it.
        assert not LeaderEnvelopeRule(leaders=5, lag=0.5, grace_fraction=0.2).should_stop(
            flat, self.PREVIOUS, MAX, self.ENDED
        )

    def test_keeps_a_job_still_climbing_fast_enough(self):
        # Gained 0.25 over its last doubling (0.2 -> 0.45): 0.45 + 0.25 x log2(10 / 4) + 2 x 0.25 > 0.9.
        climbing = [0.1, 0.2, 0.3, 0.45]
        assert not self.rule.should_stop(climbing, self.PREVIOUS, MAX, self.ENDED)
        assert ExtrapolatedEnvelopeRule(growth=0, noise=0).should_stop(climbing, self.PREVIOUS, MAX, self.ENDED)

    def test_its_own_noise_keeps_a_job_within_reach(self):
        # Best 0.8 and a range of 0.3 since epoch 2: one lucky epoch could pass 0.9.
        noisy = [0.5, 0.8, 0.5, 0.5]
        assert not self.rule.should_stop(noisy, self.PREVIOUS, MAX, self.ENDED)
        assert ExtrapolatedEnvelopeRule(noise=0).should_stop(noisy, self.PREVIOUS, MAX, self.ENDED)

    def test_the_incumbent_is_the_leaders_best_final(self):
        # Without the job that ended at 0.9 the best final is 0.8 (and the envelope's leaders change).
        previous = [[0.1] * 5 + [0.5] * 5, *self.PREVIOUS[1:]]
        assert not self.rule.cannot_catch_up([0.85] * 4, leaders_at(previous, self.ENDED, 2, 5, MAX), MAX)
        assert self.rule.cannot_catch_up([0.85] * 4, leaders_at(self.PREVIOUS, self.ENDED, 2, 5, MAX), MAX)

    def test_guards(self):
        assert not self.rule.cannot_catch_up([0.5, 0.5], leaders_at(self.PREVIOUS, self.ENDED, 1, 5, MAX), MAX)
        late = ExtrapolatedEnvelopeRule(extrapolation_grace=0.5)  # 4 epochs of 10: still in its grace
        assert not late.should_stop([0.5] * 4, self.PREVIOUS, MAX, self.ENDED)
        assert not self.rule.should_stop([0.5] * 4, self.PREVIOUS, MAX, [True] * 4 + [False])
        assert not self.rule.cannot_catch_up([0.5] * 10, leaders_at(self.PREVIOUS, self.ENDED, 5, 5, MAX), MAX)

    def test_minimize_mirrors_maximize(self):
        previous = negated(self.PREVIOUS)
        assert self.rule.should_stop([-0.5] * 4, previous, MIN, self.ENDED)
        assert not self.rule.should_stop([-0.1, -0.2, -0.3, -0.45], previous, MIN, self.ENDED)

    def test_non_finite_values(self):
        assert self.rule.should_stop([0.5, 0.5, NAN], self.PREVIOUS, MAX, self.ENDED)
        # NaN inside the curve is never its best nor part of its range.
        assert self.rule.should_stop([0.5, NAN, 0.5, 0.5], self.PREVIOUS, MAX, self.ENDED)
        assert not self.rule.cannot_catch_up([NAN, NAN, NAN], leaders_at(self.PREVIOUS, self.ENDED, 2, 5, MAX), MAX)

    def test_bad_settings_are_refused(self):
        for bad in ({"growth": -1}, {"noise": -0.5}, {"extrapolation_grace": 1}, {"leaders": 0}):
            with pytest.raises(ValueError):
                ExtrapolatedEnvelopeRule(**bad)
