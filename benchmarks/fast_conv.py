"""An experiment: the 3x3 conv weight gradient as 9 matmuls on XLA:CPU.

Profiling the ResNet step on the 2-core CPU showed XLA's weight-gradient
convolution (Eigen's backprop-filter path) costs 2-6x the forward conv, while
``dW[kh, kw] = X_shift(kh, kw)^T @ dY`` — 9 plain matmuls over the
``B*H*W`` rows — is faster wherever there are >= 32 channels or a stride of 2
(and slower at 16 channels, 32x32, so those keep XLA's path). Forward and
input gradient stay XLA's. Numerically the same sum in another order
(~1e-6 relative).

``patched()`` swaps ``flax.linen.Conv`` for a Conv using this gradient while a
program is traced (the models look ``nn.Conv`` up at trace time); the
parameter tree is unchanged.
"""

from __future__ import annotations

import contextlib
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

_DN = ("NHWC", "HWIO", "NHWC")


def _conv(x, w, stride):
  return jax.lax.conv_general_dilated(x, w, (stride, stride), ((1, 1), (1, 1)),
                                      dimension_numbers=_DN)


def _dw_matmuls(x, dy, stride):
  """dW[kh, kw, ci, co] = sum_rows x_pad[shift(kh, kw)] * dy, as 9 dots."""
  c, (ho, wo) = x.shape[-1], dy.shape[1:3]
  xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
  d = dy.reshape(-1, dy.shape[-1])
  rows = []
  for i in range(3):
    for j in range(3):
      xs = xp[:, i:i + stride * (ho - 1) + 1:stride,
              j:j + stride * (wo - 1) + 1:stride, :].reshape(-1, c)
      rows.append(jax.lax.dot_general(xs, d, (((0,), (0,)), ((), ()))))
  return jnp.stack(rows).reshape(3, 3, c, -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def conv3x3(x, w, stride):
  return _conv(x, w, stride)


def _fwd(x, w, stride):
  return _conv(x, w, stride), (x, w)


def _bwd(stride, res, dy):
  x, w = res
  _, vjp_x = jax.vjp(lambda x_: _conv(x_, w, stride), x)
  return vjp_x(dy)[0], _dw_matmuls(x, dy, stride)


conv3x3.defvjp(_fwd, _bwd)


def _use_matmuls(x, w, stride) -> bool:
  return x.shape[-1] >= 32 or stride == 2


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, precision=None, **kw):
  """``lax.conv_general_dilated`` with the 9-matmul weight gradient where it pays."""
  simple = (rhs.shape[:2] == (3, 3) and tuple(map(tuple, padding)) == (
      (1, 1), (1, 1)) and window_strides[0] == window_strides[1]
            and not any(d != 1 for d in (lhs_dilation or ()) + (
                rhs_dilation or ())) and feature_group_count == 1
            and precision is None and not kw)
  if simple and _use_matmuls(lhs, rhs, window_strides[0]):
    return conv3x3(lhs, rhs, int(window_strides[0]))
  return jax.lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
      rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
      feature_group_count=feature_group_count, precision=precision, **kw)


@contextlib.contextmanager
def patched():
  """While tracing inside, ``nn.Conv`` uses the matmul weight gradient."""
  original = nn.Conv
  nn.Conv = functools.partial(original,
                              conv_general_dilated=conv_general_dilated)
  try:
    yield
  finally:
    nn.Conv = original
