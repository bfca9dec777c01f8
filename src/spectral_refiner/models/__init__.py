"""Neural operators: spectral convolution, FNO2d, FNO3d, SFNO, a U-Net baseline, scOT (a
lead-time-conditioned windowed-attention transformer), the PDE-Refiner wrapper, a small periodic
CNN, and the registry that rebuilds a model from a checkpoint. Imports torch (and the project
error type) only.

Every model has one call, ``model(w_in: (B, T_in, X, Y)) -> (B, T_out, X, Y)``; conditioned
models also take ``lead_time=``, ``noise_level=`` or ``step=`` (see :mod:`.conditioning`).
"""

from .base import MODELS, NeuralOperator, build_model, model_from_payload, model_payload, register
from .cnn import PeriodicCNN
from .conditioning import CONDITIONING_KEYS, FiLM, ScalarEmbedding
from .fno import FNO2d, FNO3d
from .layers import ChannelLinear, ChannelMLP, FourierLayer, fourier_layers, instance_norm
from .pde_refiner import PDERefiner
from .scot import ScOT
from .sfno import SFNO
from .spectral_conv import SpectralConv
from .unet import UNet

__all__ = [
    "CONDITIONING_KEYS",
    "MODELS",
    "SFNO",
    "ChannelLinear",
    "ChannelMLP",
    "FNO2d",
    "FNO3d",
    "FiLM",
    "FourierLayer",
    "NeuralOperator",
    "PDERefiner",
    "PeriodicCNN",
    "ScOT",
    "ScalarEmbedding",
    "SpectralConv",
    "UNet",
    "build_model",
    "fourier_layers",
    "instance_norm",
    "model_from_payload",
    "model_payload",
    "register",
]
