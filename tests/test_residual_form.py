"""The residual form of FNO2d, ``model.residual=true``: ``w_out = w_in[-1] + σ G(z)``. With a
zeroed head it is the identity bit for bit (at every lead time); off, it is today's model bit for
bit; on, it is exactly the plain model's output shifted by ``w_in[-1] - μ``; and a bad value is
one line with exit status 2 and no run folder."""

from __future__ import annotations

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.models import FNO2d, build_model
from test_init_from import data_file, run_train  # noqa: F401 (fixture)

KW = dict(t_in=2, t_out=3, width=8, modes=4, n_layers=2, condition_on="lead_time")


def _model(**extra) -> FNO2d:
    torch.manual_seed(0)
    model = build_model("fno2d", **KW, **extra).double()
    model.set_normalization(0.3, 1.7)
    return model


def _x(seed: int = 0) -> torch.Tensor:
    return torch.randn(3, 2, 16, 16, generator=torch.Generator().manual_seed(seed)).double()


def test_zeroed_head_is_the_identity_bit_for_bit():
    model, x = _model(residual=True), _x()
    with torch.no_grad():
        for p in model.projection.fc2.parameters():
            p.zero_()
        for lead in (0.1, torch.tensor([0.2, 1.0, 5.0], dtype=torch.float64)):
            out = model(x, lead_time=lead)
            assert torch.equal(out, x[:, -1:].expand(-1, 3, -1, -1))


def test_off_is_the_plain_model_bit_for_bit():
    plain, off, x = _model(), _model(residual=False), _x()
    assert off.config["residual"] is False and not plain.residual
    with torch.no_grad():
        assert torch.equal(plain(x, lead_time=0.5), off(x, lead_time=0.5))


def test_on_is_the_plain_output_shifted_by_the_last_frame():
    """Same weights: residual(x) = plain(x) - μ + x[-1] (to rounding), so the skip adds the
    last frame at every output frame and nothing else; and the output is not the plain one."""
    plain, res, x = _model(), _model(residual=True), _x(1)
    res.load_state_dict(plain.state_dict())
    with torch.no_grad():
        p, r = plain(x, lead_time=0.3), res(x, lead_time=0.3)
    assert torch.allclose(r, p - 0.3 + x[:, -1:], atol=1e-12)
    assert not torch.allclose(r, p, atol=1e-3)


def test_gradient_flows_through_the_skip_and_the_head():
    """d(sum out)/d(w_in[-1]) = t_out + the network's part: the skip contributes exactly t_out
    per point, checked against the plain model's gradient."""
    plain, res = _model(), _model(residual=True)
    res.load_state_dict(plain.state_dict())
    grads = []
    for model in (plain, res):
        x = _x(2).requires_grad_(True)
        model(x, lead_time=0.3).sum().backward()
        grads.append(x.grad)
    assert torch.allclose(grads[1][:, -1], grads[0][:, -1] + 3, atol=1e-10)
    assert torch.allclose(grads[1][:, 0], grads[0][:, 0], atol=1e-10)


def test_bad_residual_value():
    with pytest.raises(SpectralRefinerError, match="residual='yes' must be true or false"):
        build_model("fno2d", residual="yes")


def test_bad_residual_is_one_line_exit_2(data_file, tmp_path, capsys):  # noqa: F811
    model = {"name": "fno2d", "width": 6, "modes": 3, "n_layers": 2, "residual": "maybe"}
    code = run_train(tmp_path, data_file, "bad", 4, model=model)
    err = capsys.readouterr().err
    assert code == 2 and "model.residual" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


def test_residual_run_trains(data_file, tmp_path):  # noqa: F811
    model = {"name": "fno2d", "width": 6, "modes": 3, "n_layers": 2, "residual": True}
    assert run_train(tmp_path, data_file, "ok", 4, model=model) == 0


def test_lead_scaled_increment_is_tau_times_the_residual_one():
    """Same weights: residual_lead(x, τ) - x[-1] = τ (residual(x, τ) - x[-1]) per instance, and
    a zeroed head is the identity bit for bit."""
    res, lead = _model(residual=True), _model(residual=True, residual_lead=True)
    lead.load_state_dict(res.state_dict())
    x, tau = _x(3), torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64)
    with torch.no_grad():
        a, b = res(x, lead_time=tau) - x[:, -1:], lead(x, lead_time=tau) - x[:, -1:]
        assert torch.allclose(b, tau.view(-1, 1, 1, 1) * a, atol=1e-12)
        for p in lead.projection.fc2.parameters():
            p.zero_()
        assert torch.equal(lead(x, lead_time=tau), x[:, -1:].expand(-1, 3, -1, -1))


def test_lead_scaling_needs_the_residual_form_and_the_lead_time():
    with pytest.raises(SpectralRefinerError, match="residual_lead needs residual=true"):
        build_model("fno2d", residual_lead=True, condition_on="lead_time")
    with pytest.raises(SpectralRefinerError, match="residual_lead needs residual=true"):
        build_model("fno2d", residual=True, residual_lead=True)


def test_lead_scaling_without_lead_time_is_the_unscaled_residual_form():
    """The fixed-window call (no lead_time, e = 0) leaves the increment unscaled."""
    res, lead = _model(residual=True), _model(residual=True, residual_lead=True)
    lead.load_state_dict(res.state_dict())
    x = _x(4)
    with torch.no_grad():
        assert torch.equal(lead(x), res(x))
        assert not torch.allclose(lead(x, lead_time=0.5), res(x, lead_time=0.5))
