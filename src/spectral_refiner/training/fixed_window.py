"""An all2all or mixture run used like every surrogate: the fixed-window call ``model(w_in)``.

``evaluate``, ``predict`` and ``compare-solver`` chain windows of ``t_in`` frames ``Δt`` apart
(the run's Problem) into ``t_out`` frames. Two kinds of run read more than such a window:

* an all2all run (:mod:`.all2all`) maps one frame to the frame a lead time ``τ`` later,
  ``w(t + τ) = S(τ) w(t)``; used on a file it is evaluated at the lead of the file's window,
  ``τ = Δt`` (one frame interval of the run's Problem, within its trained maximum), so its
  windows chain like those of a one-step model;
* a mixture run (:mod:`.mixture`) reads its ``t_in`` frames followed by one constant channel
  per equation parameter; used on a file, the channels are the file's Problem's
  (:func:`~.mixture.parameter_channels`), so the same model serves every equation of the
  mixture and the fine-tuned one-file mixture serves its file.

:class:`FixedWindow` wraps the run's model into ``w_in (B, t_in, X, Y) -> (B, t_out, X, Y)``;
it is not refinable (the refiner widens a head it does not reach). :func:`file_record` picks,
from a mixture's split record, the entry of the file met, so the held-out checks (trained-on
keys, ``--split test``) hold per file as for one-file runs, and the file is compared with the
equation of that entry (:func:`use_on_file`).
"""

from __future__ import annotations

from typing import Any

import torch

from ..data import Flow
from ..models import NeuralOperator
from ..problem import Problem
from .mixture import parameter_channels

__all__ = ["FixedWindow", "file_record", "use_on_file"]


class FixedWindow(NeuralOperator):
    """``model`` in the fixed-window call: ``w_in`` followed by the constant ``channels``
    ``(P,)`` (none: ``P = 0``), at ``lead_time`` (none: the plain call).

    ``FixedWindow(model, τ, c)(w) = model(concat(w, c), lead_time=τ)``; ``t_in`` is the
    wrapped model's minus ``P``, ``name`` and ``t_out`` are its own. The wrapped model applies
    its own data normalisation, so the wrapper applies none.
    """

    data_normalization = False

    def __init__(
        self,
        model: NeuralOperator,
        lead_time: float | None = None,
        channels: torch.Tensor | None = None,
    ) -> None:
        super().__init__()
        self.inner = model
        self.name = model.name  # type: ignore[misc]  # reports name the trained model
        self.lead_time = lead_time
        channels = torch.zeros(0) if channels is None else channels
        self.register_buffer("channels", channels.to(model.data_mean.dtype))
        self.t_in, self.t_out = model.t_in - channels.numel(), model.t_out

    def operator(self, z: torch.Tensor, **conditioning: torch.Tensor) -> torch.Tensor:
        c = self.channels.to(z.dtype)[None, :, None, None].expand(z.shape[0], -1, *z.shape[-2:])
        lead = {} if self.lead_time is None else {"lead_time": self.lead_time}
        return self.inner(torch.cat((z, c), dim=1), **lead)


def file_record(record: dict[str, Any], flow: Flow) -> dict[str, Any]:
    """The split record of ``flow`` in a run's ``record``: a mixture's entry for that very
    file (by fingerprint), else the trained and validated keys of its entries of the file's
    family together, else an empty record (the mixture trained on nothing of that family);
    a one-file run's record as it is."""
    files = record.get("files")
    if files is None:
        return record
    same = [f for f in files if flow.fingerprint and f.get("fingerprint") == flow.fingerprint]
    if same:
        return same[0]
    family = [f for f in files if f.get("family") == flow.family]
    if not family:
        return {}
    parts = ("train", "val")
    keys = {p: [k for f in family for k in f.get("keys", {}).get(p, [])] for p in parts}
    return {"family": flow.family, "keys": keys, "problem": family[0].get("problem")}


def use_on_file(
    model: NeuralOperator, record: dict[str, Any], problem: Problem, flow: Flow
) -> tuple[NeuralOperator, Problem, bool]:
    """A run's ``model``, split ``record`` and Problem ``problem`` as used on the file
    ``flow`` (module docstring): the fixed-window model, the Problem to compare the file
    with (for a mixture, the equation of the file's entry, with the run's window: the run's
    own Problem is its first file's), and whether the file's equation may replace it (a
    mixture's model reads the file's parameters as channels, so for a file of a family it
    trained on, it may). Other runs' models and Problems are returned as they are."""
    lead = problem.dt if record.get("sampling") == "all2all" else None
    names = record.get("parameters") if "files" in record else None
    if lead is None and names is None:
        return model, problem, False
    entry = file_record(record, flow) if names is not None else {}
    if entry.get("problem"):
        p = problem
        problem = Problem.from_dict(entry["problem"]).with_window(
            p.t_in or 1, p.t_out or 1, p.stride or 1, p.alpha
        )
    channels = None if names is None else parameter_channels(flow.problem, names)
    return FixedWindow(model, lead, channels).eval(), problem, bool(entry)
