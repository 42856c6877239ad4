"""Transcoder sets (per-layer PLT and cross-layer CLT): encode, decode, skip, shape checks.

One class covers both kinds. Layer i's decoder is stored as [d_transcoder, n_out_i, d_model]:
a PLT feature writes to its own layer only (n_out_i = 1), a CLT feature of layer i writes to
every layer k >= i (n_out_i = n_layers - i). Feature inputs and outputs are named with
TransformerLens hook names (circuit-tracer's config.yaml); `atlas.attribution.hooks` maps them to
HF modules through the model adapter.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from atlas.errors import InputError

ACTIVATIONS = ("relu", "jumprelu", "topk")
INPUT_HOOKS = ("mlp.hook_in", "ln2.hook_normalized", "hook_resid_mid")
OUTPUT_HOOKS = ("hook_mlp_out", "mlp.hook_out")


@dataclass(frozen=True)
class TranscoderConfig:
    """Shape and wiring of a transcoder set."""

    kind: str
    """"plt" (one transcoder per layer) or "clt" (cross-layer transcoder)."""
    n_layers: int
    """Number of model layers covered (0..n_layers-1)."""
    d_model: int
    """Residual-stream width of the model."""
    d_transcoder: int
    """Features per layer."""
    activation: str = "relu"
    """relu, jumprelu (pre * (pre > threshold)) or topk (keep the k largest per token)."""
    top_k: int | None = None
    """k of the topk activation."""
    skip: bool = False
    """Whether a linear skip connection W_skip [d_model d_model] is added to the output."""
    input_hook: str = "mlp.hook_in"
    """Where features read (TransformerLens name within a block): mlp.hook_in (output of the
    pre-MLP norm), ln2.hook_normalized (normalized, before the norm's weight), hook_resid_mid."""
    output_hook: str = "hook_mlp_out"
    """Where features write: hook_mlp_out (the block's MLP contribution) or mlp.hook_out."""
    scan: str | None = None
    """Identifier of the set (circuit-tracer `scan`); shown in graph metadata."""

    def __post_init__(self) -> None:
        if self.kind not in ("plt", "clt"):
            raise InputError(f"transcoder kind {self.kind!r} unknown; use plt or clt")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"activation {self.activation!r} unknown; "
                             f"valid: {', '.join(ACTIVATIONS)}")
        if self.activation == "topk" and not self.top_k:
            raise InputError("topk activation needs top_k > 0; set top_k in the config")
        if self.input_hook not in INPUT_HOOKS:
            raise InputError(f"feature_input_hook {self.input_hook!r} unsupported; "
                             f"valid: {', '.join(INPUT_HOOKS)}")
        if self.output_hook not in OUTPUT_HOOKS:
            raise InputError(f"feature_output_hook {self.output_hook!r} unsupported; "
                             f"valid: {', '.join(OUTPUT_HOOKS)}")


def _check(name: str, layer: int, tensor: torch.Tensor | None, expected: tuple[int, ...]) -> None:
    if tensor is None:
        raise InputError(f"transcoder layer {layer}: {name} is missing; expected shape "
                         f"{list(expected)}")
    if tuple(tensor.shape) != expected:
        raise InputError(f"transcoder layer {layer}: {name} has shape {list(tensor.shape)}, "
                         f"expected {list(expected)}; check the files match the model")


class TranscoderSet:
    """Weights of a PLT or CLT set. Lists are indexed by layer; tensors share device/dtype.

    W_enc[i] [d_transcoder d_model], b_enc[i] [d_transcoder], W_dec[i] [d_transcoder n_out_i
    d_model], b_dec[i] [d_model], threshold[i] [d_transcoder] (jumprelu), W_skip[i]
    [d_model d_model] applied as x @ W_skip.T.
    """

    def __init__(self, config: TranscoderConfig, W_enc: list[torch.Tensor],
                 b_enc: list[torch.Tensor], W_dec: list[torch.Tensor], b_dec: list[torch.Tensor],
                 threshold: list[torch.Tensor] | None = None,
                 W_skip: list[torch.Tensor] | None = None):
        self.config = config
        self.W_enc, self.b_enc, self.W_dec, self.b_dec = W_enc, b_enc, W_dec, b_dec
        self.threshold, self.W_skip = threshold, W_skip
        self._validate()

    # --- shapes ------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return self.config.n_layers

    @property
    def d_model(self) -> int:
        return self.config.d_model

    @property
    def d_transcoder(self) -> int:
        return self.config.d_transcoder

    def n_out(self, layer: int) -> int:
        """How many consecutive layers (from `layer`) a feature of `layer` writes to."""
        return 1 if self.config.kind == "plt" else self.n_layers - layer

    def _validate(self) -> None:
        cfg = self.config
        lists = {"W_enc": self.W_enc, "b_enc": self.b_enc, "W_dec": self.W_dec, "b_dec": self.b_dec}
        for name, values in lists.items():
            if len(values) != cfg.n_layers:
                raise InputError(f"transcoder set has {len(values)} {name} tensors for "
                                 f"{cfg.n_layers} layers; provide one per layer")
        if (cfg.activation == "jumprelu") != (self.threshold is not None):
            raise InputError("jumprelu needs thresholds and only jumprelu takes them; "
                             "fix activation or thresholds")
        if cfg.skip != (self.W_skip is not None):
            raise InputError("config skip flag and W_skip tensors disagree; fix the config")
        d_tc, d = cfg.d_transcoder, cfg.d_model
        for i in range(cfg.n_layers):
            _check("W_enc", i, self.W_enc[i], (d_tc, d))
            _check("b_enc", i, self.b_enc[i], (d_tc,))
            _check("W_dec", i, self.W_dec[i], (d_tc, self.n_out(i), d))
            _check("b_dec", i, self.b_dec[i], (d,))
            if self.threshold is not None:
                _check("threshold", i, self.threshold[i], (d_tc,))
            if self.W_skip is not None:
                _check("W_skip", i, self.W_skip[i], (d, d))

    def validate_for_model(self, n_layers: int, d_model: int) -> None:
        """Raise InputError unless this set fits a model with n_layers and d_model."""
        if self.n_layers != n_layers:
            raise InputError(f"transcoders cover {self.n_layers} layers but the model has "
                             f"{n_layers}; use transcoders trained for this model")
        if self.d_model != d_model:
            raise InputError(f"transcoder layer 0: W_enc has shape "
                             f"{[self.d_transcoder, self.d_model]}, expected "
                             f"{[self.d_transcoder, d_model]} (model d_model={d_model})")

    # --- device / dtype ----------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.b_enc[0].device

    @property
    def dtype(self) -> torch.dtype:
        return self.b_enc[0].dtype

    def to(self, device: Any = None, dtype: torch.dtype | None = None) -> "TranscoderSet":
        """A copy on `device` in `dtype` (either may be None to keep it); self if already there."""
        same_device = device is None or torch.device(device) == self.device or (
            torch.device(device).type == self.device.type and torch.device(device).index is None)
        if same_device and (dtype is None or dtype == self.dtype):
            return self

        def move(ts):
            return None if ts is None else [t.to(device=device, dtype=dtype) for t in ts]
        return TranscoderSet(self.config, move(self.W_enc), move(self.b_enc), move(self.W_dec),
                             move(self.b_dec), move(self.threshold), move(self.W_skip))

    def with_config(self, **changes: Any) -> "TranscoderSet":
        """The same weights under a changed config (e.g. a scan name)."""
        return TranscoderSet(replace(self.config, **changes), self.W_enc, self.b_enc, self.W_dec,
                             self.b_dec, self.threshold, self.W_skip)

    # --- computation -------------------------------------------------------------------
    def pre_activation(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Encoder pre-activations [... d_transcoder] of inputs x [... d_model]."""
        W = self.W_enc[layer]
        return torch.nn.functional.linear(x.to(W.dtype), W, self.b_enc[layer])

    def activate(self, layer: int, pre: torch.Tensor) -> torch.Tensor:
        """Apply the activation function to pre-activations [... d_transcoder]."""
        kind = self.config.activation
        if kind == "relu":
            return torch.relu(pre)
        if kind == "jumprelu":
            return pre * (pre > self.threshold[layer])
        top = torch.topk(pre, k=self.config.top_k, dim=-1).indices
        gate = torch.zeros_like(pre).scatter_(-1, top, 1.0)
        return pre * gate

    def encode(self, layer: int, x: torch.Tensor) -> torch.Tensor:
        """Feature activations [... d_transcoder] of layer `layer` for inputs x [... d_model]."""
        return self.activate(layer, self.pre_activation(layer, x))

    def skip(self, layer: int, x: torch.Tensor) -> torch.Tensor | None:
        """Skip term x @ W_skip.T [... d_model], or None without a skip connection."""
        if self.W_skip is None:
            return None
        W = self.W_skip[layer]
        return x.to(W.dtype) @ W.T

    def decode(self, acts: list[torch.Tensor], inputs: torch.Tensor) -> torch.Tensor:
        """Reconstructed outputs [n_layers pos d_model] from per-layer activations [pos d_tc]
        and the transcoder inputs [n_layers pos d_model] (for the skip term)."""
        out = torch.stack([b.expand(inputs.shape[1], -1) for b in self.b_dec]).clone()
        for layer in range(self.n_layers):
            n_out = self.n_out(layer)
            out[layer:layer + n_out] += torch.einsum("pf,fkd->kpd", acts[layer].to(self.dtype),
                                                     self.W_dec[layer])
            skip = self.skip(layer, inputs[layer])
            if skip is not None:
                out[layer] += skip
        return out
