"""Evaluation: predictions (refined or not) of whole files with their estimates η, metrics of
long rollouts, the spread of a sampling model's rollouts (uncertainty), the
surrogate-versus-solver comparison, correlation time against cost over long rollouts
(several runs and the solver), the hybrid comparison (plain solver at n, 2n, 4n,
tuned classical closures, hybrids) with its verdict, figures and the HTML report."""

from .closure_tuning import TUNABLE, minimise_1d, tune_closure
from .compare import compare_solver, pareto_front, verdict
from .dataset_figure import plot_dataset
from .efficiency import SIZES, efficiency, efficiency_gains, median_relative_l1, power_law
from .efficiency_report import plot_efficiency, write_efficiency_report
from .evaluate import evaluate_run, rollout, rollout_estimates
from .hybrid_compare import CLOSURE_NAMES, compare_hybrid, read_hybrid_comparisons
from .hybrid_horizon import long_horizon, plain_solver
from .hybrid_verdict import (
    baselines,
    dominates,
    format_hybrid_comparison,
    hybrid_verdict,
    own_solver,
    target_ratios,
)
from .inputs import SPLITS, RunData, Selection, open_run_data, residual_problem, trained_on
from .metrics import band_errors, flow_statistics, frame_metrics, high_correlation_time
from .predict import predict_file
from .report import default_report_folder, write_report
from .report_efficiency import efficiency_sections
from .report_pareto import (
    format_rollout_table,
    pareto_sections,
    plot_rollout_pareto,
    read_rollout_comparisons,
    write_rollout_pareto,
)
from .rollout_pareto import compare_rollouts, rollout_front, rollout_verdict
from .runs import (
    closure_label,
    comparison_key,
    data_key,
    evaluation_key,
    format_runs,
    list_runs,
    read_comparisons,
    read_evaluations,
)
from .uncertainty import (
    calibrated_times,
    sample_rollouts,
    spearman,
    spread_factor,
    uncertainty,
)

__all__ = [
    "CLOSURE_NAMES",
    "SIZES",
    "SPLITS",
    "TUNABLE",
    "RunData",
    "Selection",
    "band_errors",
    "baselines",
    "calibrated_times",
    "closure_label",
    "compare_hybrid",
    "compare_rollouts",
    "compare_solver",
    "comparison_key",
    "data_key",
    "default_report_folder",
    "dominates",
    "efficiency",
    "efficiency_gains",
    "efficiency_sections",
    "evaluate_run",
    "evaluation_key",
    "flow_statistics",
    "format_hybrid_comparison",
    "format_rollout_table",
    "format_runs",
    "frame_metrics",
    "high_correlation_time",
    "hybrid_verdict",
    "list_runs",
    "long_horizon",
    "median_relative_l1",
    "minimise_1d",
    "open_run_data",
    "own_solver",
    "pareto_front",
    "pareto_sections",
    "plain_solver",
    "plot_dataset",
    "plot_efficiency",
    "plot_rollout_pareto",
    "power_law",
    "predict_file",
    "read_comparisons",
    "read_evaluations",
    "read_hybrid_comparisons",
    "read_rollout_comparisons",
    "residual_problem",
    "rollout",
    "rollout_estimates",
    "rollout_front",
    "rollout_verdict",
    "sample_rollouts",
    "spearman",
    "spread_factor",
    "target_ratios",
    "trained_on",
    "tune_closure",
    "uncertainty",
    "verdict",
    "write_efficiency_report",
    "write_report",
    "write_rollout_pareto",
]
