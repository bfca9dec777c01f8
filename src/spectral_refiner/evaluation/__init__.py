"""Evaluation: predictions (refined or not) of whole files with their estimates η, metrics of
long rollouts, the surrogate-versus-solver comparison, figures and the HTML report."""

from .compare import compare_solver, pareto_front, verdict
from .evaluate import evaluate_run, rollout
from .inputs import RunData, open_run_data
from .metrics import band_errors, flow_statistics, frame_metrics, high_correlation_time
from .predict import predict_file
from .report import write_report

__all__ = [
    "RunData",
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
    "verdict",
    "write_report",
]
