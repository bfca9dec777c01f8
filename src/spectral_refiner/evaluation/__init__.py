"""Evaluation: predictions (refined or not) of whole files with their estimates η, metrics of
long rollouts, the surrogate-versus-solver comparison, figures and the HTML report."""

from .compare import compare_solver, pareto_front, verdict
from .dataset_figure import plot_dataset
from .evaluate import evaluate_run, rollout
from .hybrid_horizon import long_horizon, plain_solver
from .inputs import SPLITS, RunData, Selection, open_run_data, trained_on
from .metrics import band_errors, flow_statistics, frame_metrics, high_correlation_time
from .predict import predict_file
from .report import default_report_folder, write_report
from .runs import (
    comparison_key,
    data_key,
    evaluation_key,
    format_runs,
    list_runs,
    read_comparisons,
    read_evaluations,
)

__all__ = [
    "SPLITS",
    "RunData",
    "Selection",
    "band_errors",
    "compare_solver",
    "comparison_key",
    "data_key",
    "default_report_folder",
    "evaluate_run",
    "evaluation_key",
    "flow_statistics",
    "format_runs",
    "frame_metrics",
    "high_correlation_time",
    "list_runs",
    "long_horizon",
    "open_run_data",
    "pareto_front",
    "plain_solver",
    "plot_dataset",
    "predict_file",
    "read_comparisons",
    "read_evaluations",
    "rollout",
    "trained_on",
    "verdict",
    "write_report",
]
