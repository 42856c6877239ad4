"""The transcoder-training configuration: one frozen dataclass, validated once."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, fields

from atlas.errors import InputError

KINDS = ("plt", "clt")
ACTIVATIONS = ("relu", "jumprelu", "topk")


@dataclass(frozen=True)
class TrainConfig:
    """How to train a transcoder set on one model's MLPs."""

    kind: str = "plt"
    """plt (one transcoder per layer) or clt (cross-layer: layer-i features write to all k >= i)."""
    d_transcoder: int = 512
    """Features per layer."""
    activation: str = "relu"
    """relu, jumprelu (learned per-feature threshold) or topk (k largest per token and layer)."""
    k: int = 16
    """k of the topk activation (ignored otherwise)."""
    l1: float = 1.0
    """relu only: weight of the L1 penalty on activations times decoder norms."""
    l0: float = 0.01
    """jumprelu only: weight of the L0 penalty (active features per token and layer)."""
    steps: int = 2000
    """Optimizer steps."""
    batch_tokens: int = 512
    """Tokens per optimizer step (all layers are trained on the same tokens)."""
    lr: float = 1e-3
    """Peak Adam learning rate (warm-up over the first 5% of steps, linear decay over the last
    20%)."""
    skip: bool = False
    """Learn a linear skip connection W_skip [d_model d_model] per layer."""
    seed: int = 0
    """Seed of the initialisation and of the data order."""
    buffer_tokens: int = 8192
    """Tokens held (and shuffled) in the activation buffer; refilled block by block."""
    ctx_len: int = 64
    """Longest sequence fed to the model (longer documents are cut into chunks)."""
    forward_batch: int = 32
    """Sequences per model forward pass while filling the buffer."""
    aux_k: int = 64
    """TopK only: dead features (top aux_k of them per token) that learn to reconstruct the
    residual error through the auxiliary loss."""
    aux_coef: float = 1 / 32
    """TopK only: weight of the auxiliary dead-feature loss (0 disables it)."""
    dead_after: int = 300
    """A feature that has not fired for this many steps counts as dead."""
    resample_every: int = 250
    """Steps between resamplings of dead features (0 = never)."""
    checkpoint_every: int = 500
    """Steps between checkpoints (0 = only at the end)."""
    jumprelu_init_threshold: float = 0.05
    """Initial JumpReLU threshold (in normalised activation units)."""
    jumprelu_bandwidth: float = 0.05
    """Kernel width of the JumpReLU straight-through threshold gradients."""
    threshold_lr_scale: float = 10.0
    """JumpReLU thresholds learn this many times faster than the other parameters."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"--kind {self.kind!r} unknown; valid: {', '.join(KINDS)}")
        if self.activation not in ACTIVATIONS:
            raise InputError(f"--activation {self.activation!r} unknown; "
                             f"valid: {', '.join(ACTIVATIONS)}")
        positive = ("d_transcoder", "steps", "batch_tokens", "buffer_tokens", "ctx_len",
                    "forward_batch", "dead_after", "aux_k")
        for name in positive:
            if getattr(self, name) <= 0:
                raise InputError(f"{name}={getattr(self, name)} must be positive; fix the value")
        if self.activation == "topk" and not 0 < self.k <= self.d_transcoder:
            raise InputError(f"--k {self.k} must be in 1..d_transcoder={self.d_transcoder}")
        if self.lr <= 0 or self.l1 < 0 or self.l0 < 0 or self.aux_coef < 0:
            raise InputError(f"lr={self.lr}, l1={self.l1}, l0={self.l0}, aux_coef="
                             f"{self.aux_coef}: need lr > 0 and the penalties >= 0")
        if self.buffer_tokens < self.batch_tokens:
            raise InputError(f"buffer_tokens={self.buffer_tokens} < batch_tokens="
                             f"{self.batch_tokens}; the buffer must hold at least one batch")

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"checkpoint config has unknown field(s) {', '.join(unknown)}; "
                             "it was written by another version; start without --resume")
        return cls(**data)

    def training_fingerprint(self) -> str:
        """Hash of the fields that change the trajectory (all but checkpoint_every)."""
        data = {k: v for k, v in asdict(self).items() if k != "checkpoint_every"}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def field_docs(cls: type) -> dict[str, str]:
    """The docstring under each field of dataclass `cls` (used as CLI help)."""
    import ast
    import inspect
    import textwrap

    tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)):
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs
