"""Analysis of finished tuning jobs: the analytics table, compare, review report."""
