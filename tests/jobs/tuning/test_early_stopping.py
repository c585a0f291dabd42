import math

import pytest

from jobs.tuning.early_stopping import (
    DEFAULT_RULE,
    RULES,
    BestSoFarRankRule,
    EarlyStoppingRule,
    MedianStoppingRule,
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


def test_default_rule_is_best_so_far_rank():
    rule = DEFAULT_RULE() if isinstance(DEFAULT_RULE, type) else DEFAULT_RULE
    assert isinstance(rule, EarlyStoppingRule)
    assert RULES[rule.name] is type(rule)
    assert rule == BestSoFarRankRule()
