"""Evaluation: predictions (refined or not) of whole files with their estimates η, metrics of
long rollouts, the surrogate-versus-solver comparison, figures and the HTML report."""

from .compare import compare_solver, pareto_front, verdict
from .evaluate import evaluate_run, rollout
from .inputs import SPLITS, RunData, Selection, open_run_data, trained_on
from .metrics import band_errors, flow_statistics, frame_metrics, high_correlation_time
from .predict import predict_file
from .report import write_report

__all__ = [
    "SPLITS",
    "RunData",
    "Selection",
    "band_errors",
    "compare_solver",
    "evaluate_run",
    "flow_statistics",
    "frame_metrics",
    "high_correlation_time",
    "open_run_data",
    "pareto_front",
    "predict_file",
    "rollout",
    "trained_on",
    "verdict",
    "write_report",
]
