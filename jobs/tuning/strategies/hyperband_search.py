"""SageMaker's "Hyperband" strategy, as far as proposing goes."""

from jobs.tuning.strategies.random_search import RandomSearch


class HyperbandSearch(RandomSearch):
    """Random proposals: Hyperband's gain comes from stopping, in jobs.tuning.hyperband.

    Sampling at random is what Hyperband's authors do too; the budget saved by
    stopping at rungs buys many more configurations than a model would pick.
    """

    name = "Hyperband"
