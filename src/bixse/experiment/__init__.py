"""Experiments: grids of training runs (loss x labels x transform x seed x batch x budget), each
trained with ``bixse train``'s code and evaluated with ``bixse eval``'s, resumable and shardable,
reported with intervals over queries and seeds and paired tests against a baseline loss.

>>> from bixse.experiment import load_experiment, run_experiment, write_experiment_report
>>> config = load_experiment("experiments/paper-ablations.yaml")          # doctest: +SKIP
>>> run = run_experiment(config, "runs/paper-ablations", shard=(1, 2))   # doctest: +SKIP
"""

from bixse.experiment.config import Cell, ExperimentConfig, config_from_mapping, load_experiment, parse_shard
from bixse.experiment.estimate import estimate_cells
from bixse.experiment.publish import publish_experiment
from bixse.experiment.report import write_experiment_report
from bixse.experiment.runner import ExperimentRun, run_experiment

__all__ = ["Cell", "ExperimentConfig", "ExperimentRun", "config_from_mapping", "estimate_cells", "load_experiment",
           "parse_shard", "publish_experiment", "run_experiment", "write_experiment_report"]
