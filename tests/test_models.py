"""Neural operators: the spectral convolution against an FFT reference, widening, every block
mattering, gradients, zero-shot super-resolution and checkpoint round trips."""

from __future__ import annotations

import pytest
import torch

from spectral_refiner.errors import SpectralRefinerError
from spectral_refiner.models import (
    MODELS,
    SFNO,
    SpectralConv,
    build_model,
    model_from_payload,
    model_payload,
)
from spectral_refiner.physics import resample

SMALL = {
    "fno2d": dict(t_in=4, t_out=2, width=8, modes=4, n_layers=3),
    "fno3d": dict(t_in=4, t_out=6, width=6, modes=4, time_modes=2, n_layers=2, time_padding=2),
    "sfno": dict(t_in=5, t_out=6, width=6, modes=4, time_modes=2, n_layers=2),
    "unet": dict(t_in=4, t_out=2, width=8, levels=3),
    "cnn": dict(t_in=4, t_out=2, width=8, n_layers=3),
    "scot": dict(
        t_in=4, t_out=2, embed_dim=8, patch_size=2, window_size=2, levels=2, depth=2, head_dim=4
    ),
    "pde_refiner": dict(
        t_in=2,
        backbone={"name": "unet", "width": 8, "levels": 2},
        refinement_steps=2,
        sigma_min=0.1,
    ),
}
# Conditioned variants, called with one lead time (or step) per instance.
VARIANTS = {
    "fno2d_lead_time": ("fno2d", dict(SMALL["fno2d"], condition_on="lead_time")),
    "unet_step": ("unet", dict(SMALL["unet"], condition_on="step")),
}
CALLS = {
    "scot": {"lead_time": torch.tensor([0.5, 3.0], dtype=torch.float64)},
    "fno2d_lead_time": {"lead_time": torch.tensor([0.5, 3.0], dtype=torch.float64)},
    "unet_step": {"step": torch.tensor([1.0, 2.0], dtype=torch.float64)},
}
CASES = sorted([*SMALL, *VARIANTS])


def _spec(case: str) -> tuple[str, dict]:
    return VARIANTS.get(case, (case, SMALL.get(case, {})))


def _input(name: str, n: int = 32, batch: int = 2, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, _spec(name)[1]["t_in"], n, n, generator=g, dtype=torch.float64)


def _model(name: str, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    model_name, kwargs = _spec(name)
    return build_model(model_name, **kwargs).double()


def _call(model: torch.nn.Module, case: str, x: torch.Tensor) -> torch.Tensor:
    return model(x, **CALLS.get(case, {}))


def _fft_reference(conv: SpectralConv, v: torch.Tensor, out_size: int | None) -> torch.Tensor:
    """The layer by ``torch.fft``: full transforms, kept modes placed by hand."""
    d = len(conv.modes)
    dims = tuple(range(-d, 0))
    sizes = list(v.shape[-d:])
    out_sizes = [out_size or sizes[0], *sizes[1:]]
    vh = torch.fft.rfftn(v, dim=dims, norm="forward")
    w = torch.view_as_complex(conv.weight)  # (K_d + 1, 2K_1 + 1, ..., c_in, c_out)
    out = vh.new_zeros((v.shape[0], conv.out_channels, *out_sizes[:-1], out_sizes[-1] // 2 + 1))
    ranges = [range(-k, k + 1) for k in conv.modes[:-1]]
    for my in range(conv.modes[-1] + 1):
        for idx in torch.cartesian_prod(*[torch.tensor(list(r)) for r in ranges]).reshape(
            -1, d - 1
        ):
            m = [int(i) for i in idx]
            wk = w[(my, *(mi + k for mi, k in zip(m, conv.modes[:-1], strict=True)))]
            out[(..., *m, my)] = torch.einsum("bc,co->bo", vh[(..., *m, my)], wk)
    y = torch.fft.irfftn(out, s=out_sizes, dim=dims, norm="forward")
    if conv.bias is not None:
        y = y + conv.bias.reshape(1, -1, *([1] * d))
    return y


@pytest.mark.parametrize(
    ("shape", "modes", "out_size"),
    [((16, 12), (3, 4), None), ((6, 8, 10), (2, 3, 3), None), ((6, 8, 10), (2, 3, 3), 9)],
)
def test_spectral_conv_matches_fft_reference(shape, modes, out_size):
    torch.manual_seed(0)
    conv = SpectralConv(3, 2, modes, out_size=out_size, bias=True).double()
    with torch.no_grad():
        conv.weight.normal_()
        conv.bias.normal_()
    v = torch.randn(2, 3, *shape, dtype=torch.float64)
    ref = _fft_reference(conv, v, out_size)
    assert torch.allclose(conv(v), ref, atol=1e-12, rtol=0)


def test_spectral_conv_on_a_coarse_grid_uses_the_central_modes():
    """On a grid that cannot carry all modes, the layer acts with the modes it can carry."""
    torch.manual_seed(1)
    conv = SpectralConv(2, 2, (5, 5)).double()
    with torch.no_grad():
        conv.weight.normal_()
    v = torch.randn(1, 2, 8, 8, dtype=torch.float64)  # carries |m| <= 3
    small = SpectralConv(2, 2, (3, 3)).double()
    with torch.no_grad():
        small.weight.copy_(conv.weight[:4, 2:9])
    assert torch.allclose(conv(v), small(v), atol=1e-13, rtol=0)


def test_widen_keeps_the_output_and_adds_trainable_modes():
    torch.manual_seed(2)
    conv = SpectralConv(3, 1, (2, 3, 3), out_size=7).double()
    v = torch.randn(2, 3, 6, 16, 16, dtype=torch.float64)
    before = conv(v)
    conv.widen((2, 7, 7))
    assert conv.weight.shape[:3] == (8, 5, 15)
    assert torch.equal(conv(v), before) or torch.allclose(conv(v), before, atol=1e-13)
    # the new modes act: put weight on a high mode only and see it in the output
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[7, 2, 14] = 1.0
    out = conv(v)
    spectrum = torch.fft.rfftn(out, dim=(-2, -1)).abs().sum(dim=(0, 1, 2))
    assert spectrum[7, 7] > 1e-6 * spectrum.sum()
    assert spectrum[:7, :7].sum() < 1e-9 * spectrum.sum()
    with pytest.raises(SpectralRefinerError, match="cannot widen"):
        conv.widen((1, 7, 7))


@pytest.mark.parametrize("name", CASES)
def test_every_block_changes_the_output(name):
    """Zeroing the output of any submodule that holds parameters changes the prediction,
    so no block's output is silently dropped (conditioned models: called with their
    conditioning, so the embedding and every modulation count)."""
    model, x = _model(name), _input(name)
    with torch.no_grad():
        base = _call(model, name, x)
    blocks = [
        (n, m)
        for n, m in model.named_modules()
        if n and list(m.parameters()) and not isinstance(m, torch.nn.ModuleList)
    ]
    assert len(blocks) >= (3 if name == "cnn" else 8)
    for block_name, block in blocks:
        handle = block.register_forward_hook(lambda mod, inp, out: torch.zeros_like(out))
        try:
            with torch.no_grad():
                out = _call(model, name, x)
        finally:
            handle.remove()
        change = (out - base).norm() / base.norm()
        assert change > 1e-4, f"{name}: zeroing {block_name} does not change the output"


@pytest.mark.parametrize("name", CASES)
def test_gradients_reach_every_parameter(name):
    model, x = _model(name), _input(name)
    out = _call(model, name, x)
    assert out.shape == (2, _spec(name)[1].get("t_out", 1), 32, 32)
    out.square().mean().backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: no gradient to {pname}"


@pytest.mark.parametrize("name", CASES)
def test_inference_path_equals_the_training_path(name):
    """Without autograd some operations run in place; the numbers must not change."""
    model, x = _model(name), _input(name)
    with torch.no_grad():
        fast = _call(model, name, x)
    torch.testing.assert_close(fast, _call(model, name, x).detach(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", ["fno2d", "sfno"])
def test_mixed_precision_keeps_the_transforms_in_float32(name):
    """Under autocast (bfloat16 on the CPU, float16 on a GPU) the spectral convolutions run in
    float32: the output stays close to the float32 one."""
    torch.manual_seed(5)
    model = build_model(name, **SMALL[name])
    x = _input(name).float()
    with torch.no_grad():
        full = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed = model(x)
    assert ((mixed.float() - full).norm() / full.norm()) < 0.05


def _band_limited(batch: int, frames: int, n: int, k: int = 4, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coef = torch.zeros(batch, frames, n, n // 2 + 1, dtype=torch.complex128)
    block = torch.randn(batch, frames, 2 * k + 1, k + 1, generator=g, dtype=torch.complex128)
    coef[..., : k + 1, : k + 1] = block[..., : k + 1, :]
    coef[..., n - k :, : k + 1] = block[..., k + 1 :, :]
    w = torch.fft.irfft2(coef, s=(n, n), norm="forward")
    return w / w.std()


@pytest.mark.parametrize("name", ["fno2d", "fno3d", "sfno"])
def test_zero_shot_super_resolution(name):
    """For a band-limited input, the output on 128^2 is the spectral up-sampling of the output
    on 64^2 (the Fourier operators are resolution-invariant); every layer kind of the model,
    at a reduced width and depth."""
    torch.manual_seed(3)
    model = build_model(name, t_in=10, t_out=4, width=8, n_layers=2).double()
    x64 = _band_limited(2, 10, 64)
    with torch.no_grad():
        y64, y128 = model(x64), model(resample(x64, 128))
    err = (resample(y64, 128) - y128).norm() / y128.norm()
    assert err <= 1e-5


@pytest.mark.parametrize("name", CASES)
def test_checkpoint_round_trip_rebuilds_an_identical_model(name, tmp_path):
    model, x = _model(name, seed=4), _input(name)
    if isinstance(model, SFNO):
        model.widen_head((2, 9, 9), init_std=0.1)
    path = tmp_path / "model.pt"
    torch.save(model_payload(model), path)
    del model
    rebuilt = model_from_payload(torch.load(path, weights_only=True))
    again = model_from_payload(torch.load(path, weights_only=True))
    assert rebuilt.config == again.config
    with torch.no_grad():
        assert torch.equal(_call(rebuilt, name, x), _call(again, name, x))
    original = _model(name, seed=4)
    if isinstance(original, SFNO):
        assert rebuilt.config["head_modes"] == [2, 9, 9]
    else:
        with torch.no_grad():
            assert torch.equal(_call(rebuilt, name, x), _call(original, name, x))


def test_registry_and_parameter_counts():
    # "hybrid" (spectral_refiner.hybrid) registers itself when that wing is imported.
    assert set(MODELS) - {"hybrid"} == {
        "fno2d",
        "fno3d",
        "sfno",
        "unet",
        "cnn",
        "scot",
        "pde_refiner",
    }
    model = build_model("fno2d", t_in=10, t_out=1, width=32, modes=6, n_layers=4)
    spectral = 4 * 32 * 32 * 13 * 7 * 2  # complex weights count twice
    assert spectral < model.n_parameters() < 1.03 * spectral
    with pytest.raises(SpectralRefinerError, match="unknown model"):
        build_model("transformer")
    with pytest.raises(SpectralRefinerError, match="expects input frames"):
        model(torch.zeros(1, 3, 16, 16))
