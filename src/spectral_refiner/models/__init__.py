"""Neural operators: spectral convolution, FNO2d, FNO3d, SFNO, a U-Net baseline, and the registry
that rebuilds a model from a checkpoint. Imports torch (and the project error type) only.

Every model has one call, ``model(w_in: (B, T_in, X, Y)) -> (B, T_out, X, Y)``.
"""

from .base import MODELS, NeuralOperator, build_model, model_from_payload, model_payload, register
from .fno import FNO2d, FNO3d
from .layers import ChannelLinear, ChannelMLP, FourierLayer, fourier_layers, instance_norm
from .sfno import SFNO
from .spectral_conv import SpectralConv
from .unet import UNet

__all__ = [
    "MODELS",
    "SFNO",
    "ChannelLinear",
    "ChannelMLP",
    "FNO2d",
    "FNO3d",
    "FourierLayer",
    "NeuralOperator",
    "SpectralConv",
    "UNet",
    "build_model",
    "fourier_layers",
    "instance_norm",
    "model_from_payload",
    "model_payload",
    "register",
]
