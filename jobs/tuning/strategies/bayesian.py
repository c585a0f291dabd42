"""Bayesian optimisation: a Gaussian process fitted to the observations, expected improvement to pick.

Everything happens in the unit cube of :meth:`SearchSpace.encode`, so the scaling of each range
(linear, logarithmic, reverse-logarithmic) is already applied: the surrogate sees a learning
rate's order of magnitude, not its raw value. The objective is turned into a loss (negated for
Maximize) before anything else, so that the rest of the module only ever minimises.

One proposal goes through four steps:

1. Split the observations into evaluated points (with a value), failures (given a bad value)
   and pending training jobs (given a made-up value, see below), and replace the values by
   the normal scores of their ranks.
2. Fit a Gaussian process with a Matérn 5/2 kernel to the evaluated points and the failures:
   one length scale per hyperparameter, a signal and a noise variance, all chosen by maximising
   the log marginal likelihood plus weak priors.
3. Score a thousand random points of the cube, and a thousand perturbations of the best
   points so far, by expected improvement over the best predicted value.
4. Decode the best-scoring points, score them again where decoding put them (integers are
   continuous for the model and rounded by decoding), and take the best one that is not
   already a known configuration.

A categorical range is one-hot, as :meth:`SearchSpace.encode` gives it, with a single length
scale for all of its columns: two different categories are then always the same distance apart,
whichever they are, as befits values without an order.

Proposals of the same batch and running training jobs are "constant liars" (Ginsbourger et
al., 2010): they join the data with the best predicted value as their outcome, which removes
the model's uncertainty where a job already runs, so that expected improvement looks
elsewhere. The lie is optimistic on purpose: a pessimistic one would push new proposals away
from the incumbent's neighbourhood exactly while it is the most promising region.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize, special, stats
from threadpoolctl import threadpool_limits

from jobs.tuning.space import CategoricalParameterRange, ParameterRange, SearchSpace, Value
from jobs.tuning.strategies.base import Direction, Observation, Strategy

N_CANDIDATES = 1024
"""Uniform random points of the cube scored by expected improvement for each proposal."""

N_LOCAL_CANDIDATES = 1024
"""Perturbations of the best evaluated points scored alongside the uniform ones. Uniform points
find the promising basins; these refine the best one, which uniform points in ten or more
dimensions almost never come close to."""

N_INCUMBENTS = 5
"""How many of the best evaluated points are perturbed."""

LOCAL_SCALE = 0.1
"""Standard deviation of a perturbation of a numeric coordinate, as a fraction of the axis."""

N_FIT_STARTS = 16
"""Starting points of the kernel fit at which the objective is evaluated once."""

N_FIT_RESTARTS = 1
"""How many of the best starting points are optimised. Restarts guard against the local optima
of the marginal likelihood, but each one costs as much as the rest of a proposal; screening
many starting points with one evaluation each and optimising only the best is most of the
benefit for a fraction of the cost."""

MAX_FIT_ITERATIONS = 50
"""L-BFGS-B iterations of a fit; most fits converge in 30 to 45."""

MAX_FIT_POINTS = 50
"""Largest random subset of the evaluated points that the kernel's parameters are fitted to.
Each step of the fit costs a factorisation and an inversion, cubic in the points, while a dozen
length scales and variances are well determined by 50 points; the fitted model is then
conditioned on all points, once."""

N_SNAPPED = 16
"""Best-scoring candidates that are decoded, re-encoded and scored again. Integers are rounded
by decoding, so a candidate scores for a point it will not be; re-scoring a handful of rounded
points is far cheaper than rounding all of them."""

MAX_RANDOM_DRAWS = 100
"""How often a random draw that repeats a known configuration is redrawn."""

NOISELESS = 1e-6
"""Variance added to the diagonal for the liars, and the noise variance's lower bound: enough
to keep the Cholesky factorisation stable with repeated points, too little to matter."""

RUNNING = frozenset({"InProgress", "Stopping"})

# Bounds on the log of the kernel's parameters. Inputs live in [0, 1] and outputs are normal
# scores, so these are generous without letting the fit run off to degenerate models: a length
# scale of 1% of an axis is already pure interpolation, one of 200 axes a constant.
_LOG_LENGTH_SCALE_BOUNDS = (math.log(0.01), math.log(200.0))
_LOG_SIGNAL_BOUNDS = (math.log(0.05), math.log(20.0))
_LOG_NOISE_BOUNDS = (math.log(NOISELESS), math.log(1.0))
# Means and standard deviations of the Gaussian priors on the logs; see _fit.
_LOG_LENGTH_SCALE_PRIOR_STD = math.sqrt(3.0)
_LOG_SIGNAL_PRIOR = (0.0, 1.0)
_LOG_NOISE_PRIOR = (-4.0, 1.0)
_SQRT5 = math.sqrt(5.0)
_UNFIT = 1e10
"""The fit's objective where the covariance matrix cannot be factorised: worse than any fit."""


class BayesianSearch(Strategy):
    """SageMaker's Bayesian strategy.

    The first ``n_initial`` configurations (counting every observation, including those of
    warm-start parents) are drawn at random exactly as :class:`RandomSearch` draws them: a
    Gaussian process fitted to a handful of points would mostly echo its priors. The default
    is twice the number of hyperparameters, between 3 and 10: enough points to tell each
    hyperparameter's effect from noise, few enough to leave most of a small budget to the model.

    Observations are read by their status:

    * Completed, or Stopped with an objective: the value is used as it is. An early-stopped
      training job reports its objective at the epoch it was stopped, which is worse than it
      would have reached: pessimistic, but it still ranks the configuration, and the median
      rule only stops jobs that were behind anyway.
    * Failed, a missing objective after completion, or a NaN or infinite objective: the
      configuration is given the worst value observed so far, so that the model steers away
      from regions where training crashes or diverges without inventing how bad they are.
      Such values never reach the model as they are.
    * Stopped without an objective (stopped before it reported anything): says nothing about
      its configuration and only counts as a configuration not to propose again.
    * InProgress or Stopping: pending, and a constant liar like the proposals of the same batch.

    When no observation has a usable value yet, proposals stay random. A configuration already
    observed or proposed is never proposed again; in a discrete space with nothing fresh left
    the batch is returned shorter, which the :class:`Strategy` contract allows.
    """

    name = "Bayesian"

    def __init__(self, space: SearchSpace, direction: Direction, seed: int, *, n_initial: int | None = None):
        super().__init__(space, direction, seed)
        self._n_initial = max(3, min(10, 2 * len(space.ranges))) if n_initial is None else n_initial
        self._sign = -1.0 if self._direction is Direction.MAXIMIZE else 1.0
        # Each column of an encoded vector belongs to one hyperparameter. The one-hot columns of
        # a categorical share its length scale, so every two distinct categories are equally far
        # apart (categories have no order), and a categorical costs one kernel parameter, not k.
        self._groups = np.repeat(np.arange(len(space.ranges)), [_width(r) for r in space.ranges])
        self._categorical_blocks = [
            (offset, _width(r))
            for offset, r in zip(_offsets(space.ranges), space.ranges, strict=True)
            if isinstance(r, CategoricalParameterRange)
        ]
        self._numeric = np.ones(space.dimension, dtype=bool)
        for offset, width in self._categorical_blocks:
            self._numeric[offset : offset + width] = False

    def suggest(self, observations: Sequence[Observation], n: int) -> list[dict[str, Value]]:
        # Matrices here have a few hundred rows at most, where one BLAS thread is as fast as
        # several; OpenBLAS threads also busy-wait between calls and starve L-BFGS-B's own
        # BLAS on a small, shared machine (several times slower on 2 busy cores, SciPy #22438).
        with threadpool_limits(limits=1, user_api="blas"):
            return self._suggest(observations, n)

    def _suggest(self, observations: Sequence[Observation], n: int) -> list[dict[str, Value]]:
        rng = np.random.default_rng([self._seed, len(observations)])
        seen, evaluated, losses, pending = self._data(observations)
        model: _GaussianProcess | None = None
        suggestions: list[dict[str, Value]] = []
        for slot in range(n):
            if len(observations) + slot < self._n_initial or not losses.size:
                configuration = self._random(rng, seen)
            else:
                if model is None:
                    model = _fit(evaluated, _normal_scores(losses), self._groups, rng)
                    model = model.with_liars(np.array(pending).reshape(-1, self._space.dimension))
                configuration = self._maximise_expected_improvement(model, rng, seen)
                if configuration is not None and slot < n - 1:
                    model = model.with_liars(self._space.encode(configuration)[None, :])
            if configuration is None:
                break
            seen.add(self._space.encode(configuration).tobytes())
            suggestions.append(configuration)
        return suggestions

    def _data(self, observations: Sequence[Observation]) -> tuple[set[bytes], np.ndarray, np.ndarray, list[np.ndarray]]:
        """The observed configurations, the encoded evaluated points with their losses, and the
        encoded pending points.

        Configurations are told apart by their encodings, which are equal exactly when the typed
        values are: one parse per observation instead of two, which shows at 200 observations.
        Failures come out with the worst finite loss; with no finite loss there is nothing to
        learn from and both arrays are empty.
        """
        seen, points, losses, failed, pending = set(), [], [], [], []
        for observation in observations:
            x = self._space.encode(observation.hyperparameters)
            seen.add(x.tobytes())
            objective = observation.objective
            if observation.status in RUNNING:
                pending.append(x)
            elif observation.status == "Failed" or (objective is not None and not math.isfinite(objective)):
                failed.append(x)
            elif objective is not None:
                points.append(x)
                losses.append(self._sign * objective)
            elif observation.status != "Stopped":
                failed.append(x)
        if not losses:
            return seen, np.empty((0, self._space.dimension)), np.empty(0), pending
        worst = max(losses)
        return seen, np.array(points + failed), np.array(losses + [worst] * len(failed)), pending

    def _random(self, rng: np.random.Generator, seen: set[bytes]) -> dict[str, Value] | None:
        """A random configuration not in ``seen``: the same draws :class:`RandomSearch` makes."""
        for _ in range(MAX_RANDOM_DRAWS):
            configuration = self._space.sample(rng)
            if self._space.encode(configuration).tobytes() not in seen:
                return configuration
        return None

    def _maximise_expected_improvement(
        self, model: _GaussianProcess, rng: np.random.Generator, seen: set[bytes]
    ) -> dict[str, Value] | None:
        candidates = self._candidates(model, rng)
        scores = model.log_expected_improvement(candidates)
        fresh_points, fresh_configurations, fresh_keys = [], [], set()
        for index in np.argsort(-scores, kind="stable"):
            configuration = self._space.decode(candidates[index])
            point = self._space.encode(configuration)
            if point.tobytes() in seen or point.tobytes() in fresh_keys:
                continue
            fresh_keys.add(point.tobytes())
            fresh_configurations.append(configuration)
            fresh_points.append(point)
            if len(fresh_points) == N_SNAPPED:
                break
        if not fresh_points:
            return self._random(rng, seen)
        snapped_scores = model.log_expected_improvement(np.array(fresh_points))
        return fresh_configurations[int(np.argmax(snapped_scores))]

    def _candidates(self, model: _GaussianProcess, rng: np.random.Generator) -> np.ndarray:
        """Uniform points of the cube, and perturbations of the best evaluated points.

        Uniform points follow the distribution of :meth:`SearchSpace.sample` (uniform on each
        range's scale, a uniformly drawn category) but are drawn directly in the cube: encoding
        thousands of sampled configurations one by one would cost more than the whole model.
        """
        uniform = rng.random((N_CANDIDATES, self._space.dimension))
        self._draw_categories(uniform, rng, np.ones(N_CANDIDATES, dtype=bool))

        best = model.best_points(N_INCUMBENTS)
        local = best[rng.integers(len(best), size=N_LOCAL_CANDIDATES)]
        steps = rng.normal(0.0, LOCAL_SCALE, size=local.shape)
        local = np.clip(local + np.where(self._numeric, steps, 0.0), 0.0, 1.0)
        # A new category is a long step: only one local candidate in (number of hyperparameters)
        # redraws its categories.
        self._draw_categories(local, rng, rng.random(N_LOCAL_CANDIDATES) < 1.0 / len(self._space.ranges))
        return np.vstack([uniform, local])

    def _draw_categories(self, points: np.ndarray, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Give the selected rows a uniformly drawn category for every categorical range, in place."""
        for offset, width in self._categorical_blocks:
            points[rows, offset : offset + width] = np.eye(width)[rng.integers(width, size=int(rows.sum()))]


@dataclass(frozen=True)
class _Kernel:
    """Matérn 5/2 with one length scale per column and a signal variance."""

    length_scales: np.ndarray
    signal: float

    def __call__(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        # In place: with thousands of candidates every temporary matrix costs as much as the
        # arithmetic. s = sqrt(5) r, and the Matérn 5/2 correlation is (1 + s + s^2/3) e^-s.
        a, b = a * (_SQRT5 / self.length_scales), b * (_SQRT5 / self.length_scales)
        s = a @ b.T
        s *= -2.0
        s += (a * a).sum(1)[:, None]
        s += (b * b).sum(1)[None, :]
        np.maximum(s, 0.0, out=s)
        np.sqrt(s, out=s)
        polynomial = s * s
        polynomial /= 3.0
        polynomial += s
        polynomial += 1.0
        np.negative(s, out=s)
        np.exp(s, out=s)
        polynomial *= s
        polynomial *= self.signal
        return polynomial


class _GaussianProcess:
    """A zero-mean Gaussian process conditioned on points, their normal scores and noise variances.

    The first ``n_evaluated`` points are observations, with the fitted noise; the others are
    liars, conditioned on as if observed without noise: their purpose is to remove the
    uncertainty at their point, and with the fitted noise it would only shrink.
    """

    def __init__(self, kernel: _Kernel, x: np.ndarray, y: np.ndarray, noise: np.ndarray, n_evaluated: int):
        self._kernel = kernel
        self._x, self._y, self._noise = x, y, noise
        self._n_evaluated = n_evaluated
        self._cholesky = _cholesky(kernel(x, x) + np.diag(noise))
        self._alpha = linalg.cho_solve((self._cholesky, True), y)
        mean = self._kernel(x[:n_evaluated], x) @ self._alpha
        self._best = float(mean.min())
        """The best predicted value at an evaluated point: with noise, the best observed value is
        often a lucky draw, and improving on luck is not what the search is after."""

    def with_liars(self, points: np.ndarray) -> _GaussianProcess:
        """The same model, also conditioned on ``points`` having the best predicted value."""
        if not len(points):
            return self
        return _GaussianProcess(
            self._kernel,
            np.vstack([self._x, points]),
            np.concatenate([self._y, np.full(len(points), self._best)]),
            np.concatenate([self._noise, np.full(len(points), NOISELESS)]),
            self._n_evaluated,
        )

    def best_points(self, count: int) -> np.ndarray:
        return self._x[np.argsort(self._y[: self._n_evaluated], kind="stable")[:count]]

    def log_expected_improvement(self, points: np.ndarray) -> np.ndarray:
        """Log of the expected improvement over the best predicted value.

        The log keeps candidates comparable where the improvement itself underflows to zero,
        which happens everywhere once the model is confident (Ament et al., 2023).
        """
        cross = self._kernel(points, self._x)
        mean = cross @ self._alpha
        v = linalg.solve_triangular(self._cholesky, cross.T, lower=True, check_finite=False)
        std = np.sqrt(np.maximum(self._kernel.signal - (v * v).sum(0), 1e-12))
        return np.log(std) + _log_h((self._best - mean) / std)


def _fit(x: np.ndarray, y: np.ndarray, groups: np.ndarray, rng: np.random.Generator) -> _GaussianProcess:
    """The Gaussian process whose kernel maximises the log marginal likelihood plus log priors.

    Parameters are optimised as logs with L-BFGS-B and analytic gradients. The priors are weak
    and only keep small data sets from degenerate fits, all log-normal:

    * each length scale around ``sqrt(d)`` for ``d`` hyperparameters, with a standard deviation
      of ``sqrt(3)`` on the log. Distances between points of the cube grow like ``sqrt(d)``, and
      scaling the prior with them keeps a model in ten dimensions from treating every point as
      unrelated to every other (Hvarfner et al., 2024, "Vanilla Bayesian optimization performs
      great in high dimensions", who centre it ``e^sqrt(2)`` times higher; with a handful of
      points that much smoothness made the model believe categories hardly matter, and it
      stopped trying the other ones);
    * the signal variance around 1, the variance of normal scores;
    * the noise variance around ``e^-4`` of it: little noise unless the data insist.

    ``N_FIT_STARTS`` seeded starting points (the prior medians, then draws from the priors) are
    evaluated once and the best ``N_FIT_RESTARTS`` are optimised, for at most
    ``MAX_FIT_ITERATIONS`` iterations each, on at most ``MAX_FIT_POINTS`` points: that caps the
    cost of a fit at about a hundred small Cholesky factorisations, whatever the data.
    """
    n_groups = int(groups.max()) + 1
    subset = np.arange(len(y))
    if len(y) > MAX_FIT_POINTS:
        subset = np.sort(rng.choice(len(y), size=MAX_FIT_POINTS, replace=False))
    fit_x, fit_y = x[subset], y[subset]
    differences = (fit_x[:, None, :] - fit_x[None, :, :]) ** 2
    squared = np.stack([differences[:, :, groups == g].sum(2).ravel() for g in range(n_groups)])
    prior_mean = np.concatenate(
        [np.full(n_groups, 0.5 * math.log(n_groups)), [_LOG_SIGNAL_PRIOR[0], _LOG_NOISE_PRIOR[0]]]
    )
    prior_std = np.concatenate(
        [np.full(n_groups, _LOG_LENGTH_SCALE_PRIOR_STD), [_LOG_SIGNAL_PRIOR[1], _LOG_NOISE_PRIOR[1]]]
    )
    bounds = [_LOG_LENGTH_SCALE_BOUNDS] * n_groups + [_LOG_SIGNAL_BOUNDS, _LOG_NOISE_BOUNDS]
    low, high = np.array(bounds).T

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        return _negative_log_posterior(theta, squared, fit_y, prior_mean, prior_std)

    starts = np.clip(prior_mean + prior_std * rng.standard_normal((N_FIT_STARTS, len(prior_mean))), low, high)
    starts[0] = np.clip(prior_mean, low, high)
    start_losses = [loss(start)[0] for start in starts]
    best_theta, best_loss = starts[int(np.argmin(start_losses))], min(start_losses)
    for index in np.argsort(start_losses, kind="stable")[:N_FIT_RESTARTS]:
        result = optimize.minimize(
            loss, starts[index], jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": MAX_FIT_ITERATIONS}
        )
        if np.isfinite(result.fun) and result.fun < best_loss:
            best_theta, best_loss = result.x, result.fun
    length_scales = np.exp(best_theta[:n_groups])[groups]
    signal, noise = float(np.exp(best_theta[-2])), float(np.exp(best_theta[-1]))
    return _GaussianProcess(_Kernel(length_scales, signal), x, y, np.full(len(y), noise), len(y))


def _negative_log_posterior(
    theta: np.ndarray, squared: np.ndarray, y: np.ndarray, prior_mean: np.ndarray, prior_std: np.ndarray
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood minus log priors, and its gradient in ``theta``.

    ``theta`` holds the logs of the length scales, the signal variance and the noise variance;
    ``squared[g]`` the squared differences between all pairs of points along hyperparameter
    ``g``, flattened. This runs a few hundred times per proposal, hence LAPACK called directly
    and no temporary matrix that can be avoided.
    """
    n, n_groups = len(y), len(squared)
    inverse_squares = np.exp(-2.0 * theta[:n_groups])
    signal, noise = math.exp(theta[-2]), math.exp(theta[-1])
    scaled = (inverse_squares @ squared).reshape(n, n)
    r = np.sqrt(scaled)
    decay = np.exp(-_SQRT5 * r)
    correlation = (1.0 + _SQRT5 * r + 5.0 / 3.0 * scaled) * decay
    covariance = signal * correlation
    covariance.flat[:: n + 1] += noise
    factor, info = linalg.lapack.dpotrf(covariance, lower=True, clean=True)
    if info:
        return _UNFIT, np.zeros_like(theta)
    alpha, _ = linalg.lapack.dpotrs(factor, y, lower=True)
    # potri writes the lower triangle of the inverse and leaves the upper one as potrf cleaned
    # it, zero: a third of the cost of solving against the identity.
    inverse, _ = linalg.lapack.dpotri(factor, lower=True)
    inverse += inverse.T
    inverse.flat[:: n + 1] *= 0.5
    value = 0.5 * y @ alpha + np.log(factor.diagonal()).sum()

    # d(value)/d(theta_i) = -1/2 tr((alpha alpha^T - K^-1) dK/d(theta_i)), and
    # d(correlation)/d(log length scale g) = 5/3 (1 + sqrt5 r) exp(-sqrt5 r) squared[g] / l_g^2.
    w = np.outer(alpha, alpha) - inverse
    radial = w * (signal * 5.0 / 3.0) * (1.0 + _SQRT5 * r) * decay
    gradient = np.empty_like(theta)
    gradient[:n_groups] = -0.5 * inverse_squares * (squared @ radial.ravel())
    gradient[-2] = -0.5 * signal * (w * correlation).sum()
    gradient[-1] = -0.5 * noise * w.trace()

    deviation = (theta - prior_mean) / prior_std
    return value + 0.5 * float(deviation @ deviation), gradient + deviation / prior_std


def _cholesky(matrix: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, with growing jitter if rounding made ``matrix`` indefinite."""
    jitter = 0.0
    for _ in range(5):
        try:
            return linalg.cholesky(matrix + jitter * np.eye(len(matrix)), lower=True, check_finite=False)
        except linalg.LinAlgError:
            jitter = max(10.0 * jitter, NOISELESS)
    raise linalg.LinAlgError("covariance matrix is not positive definite, even with jitter")


def _normal_scores(losses: np.ndarray) -> np.ndarray:
    """The losses replaced by the standard normal quantiles of their ranks (a Gaussian copula).

    Losses of training jobs are heavy-tailed: a diverged run can score a thousand times worse
    than a good one, and standardising raw values would squash every good configuration into
    one value at the bottom of the scale, where the model cannot tell them apart. Ranks keep
    what the search needs, which configuration beats which, and normal quantiles of ranks are
    the well-behaved outputs a Gaussian process assumes (Salinas et al., 2020, "A quantile-based
    approach for hyperparameter transfer learning"). Ties, such as failures sharing the worst
    value, share their mean rank.
    """
    return special.ndtri((stats.rankdata(losses) - 0.5) / len(losses))


def _log_h(z: np.ndarray) -> np.ndarray:
    """``log(z * Phi(z) + phi(z))``, the log of the expected improvement of a unit Gaussian.

    Below ``z = -1`` the direct formula loses all precision; there it is written as
    ``phi(z) * (1 - |z| * m(|z|))`` with Mills' ratio ``m(t) = Phi(-t) / phi(t)``, which
    ``erfcx`` computes without underflow.
    """
    z = np.maximum(z, -1e3)
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(zu * special.ndtr(zu) + np.exp(-0.5 * zu * zu) / math.sqrt(2.0 * math.pi))
    t = -z[~upper]
    mills = math.sqrt(math.pi / 2.0) * special.erfcx(t / math.sqrt(2.0))
    out[~upper] = -0.5 * t * t - 0.5 * math.log(2.0 * math.pi) + np.log(np.maximum(1.0 - t * mills, 1e-300))
    return out


def _width(param_range: ParameterRange) -> int:
    return len(param_range.values) if isinstance(param_range, CategoricalParameterRange) else 1


def _offsets(ranges: Sequence[ParameterRange]) -> list[int]:
    offsets, offset = [], 0
    for param_range in ranges:
        offsets.append(offset)
        offset += _width(param_range)
    return offsets
