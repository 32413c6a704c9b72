"""The match thresholds `linkage evaluate` sweeps by default (and `Project.estimate`): a
module of its own so the command line can name them without loading the engine."""

SWEEP_THRESHOLDS = (0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 0.9999)
