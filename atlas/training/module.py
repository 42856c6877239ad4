"""The trainable transcoder set: parameters, activations (ReLU, JumpReLU, TopK), loss, export.

Shapes: x, y [batch n_layers d_model]; pre, acts [batch n_layers d_transcoder]. Layer i's decoder
is [d_transcoder n_out_i d_model] with n_out_i = 1 (PLT) or n_layers - i (CLT). Inputs and
targets are divided by per-layer scales (root-mean-square norm / sqrt(d_model), measured on the
first buffer block) so one learning rate and one sparsity weight fit every layer; `export`
folds the scales back into the weights, so saved transcoders act on raw activations.
"""

from __future__ import annotations

import torch
from torch import nn

from atlas.training.config import TrainConfig


class _JumpReLU(torch.autograd.Function):
    """pre * (pre > threshold), with a rectangle-kernel straight-through gradient for threshold."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return pre * (pre > threshold)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        near = ((pre - threshold).abs() < bw / 2).to(pre.dtype)
        grad_threshold = (-(threshold / bw) * near * grad).sum(0)
        return (pre > threshold) * grad, grad_threshold, None


class _Step(torch.autograd.Function):
    """Heaviside step H(pre - threshold): no gradient to pre, a rectangle-kernel
    straight-through gradient to threshold (Rajamanoharan et al. 2024), for the L0 penalty."""

    @staticmethod
    def forward(ctx, pre: torch.Tensor, threshold: torch.Tensor, bandwidth: float):
        ctx.save_for_backward(pre, threshold)
        ctx.bandwidth = bandwidth
        return (pre > threshold).to(pre.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        pre, threshold = ctx.saved_tensors
        bw = ctx.bandwidth
        near = ((pre - threshold).abs() < bw / 2).to(pre.dtype)
        return None, (-(1.0 / bw) * near * grad).sum(0), None


def topk_activation(pre: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest (and positive) pre-activations per token and layer; zero the rest."""
    values, indices = torch.topk(pre, k, dim=-1)
    return torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))


class TrainableTranscoders(nn.Module):
    """A PLT or CLT set under training (float32, normalised units)."""

    def __init__(self, config: TrainConfig, n_layers: int, d_model: int):
        super().__init__()
        self.config, self.n_layers, self.d_model = config, n_layers, d_model
        d_tc = config.d_transcoder
        gen = torch.Generator().manual_seed(config.seed)
        n_out = [1 if config.kind == "plt" else n_layers - i for i in range(n_layers)]
        dec = [torch.randn(d_tc, k, d_model, generator=gen) for k in n_out]
        dec = [0.1 * d / d.flatten(1).norm(dim=1).clamp_min(1e-8)[:, None, None] for d in dec]
        self.W_dec = nn.ParameterList(nn.Parameter(d) for d in dec)
        self.W_enc = nn.Parameter(torch.stack([d[:, 0] for d in dec]) * (d_model ** 0.5) * 0.5)
        self.b_enc = nn.Parameter(torch.zeros(n_layers, d_tc))
        self.b_dec = nn.Parameter(torch.zeros(n_layers, d_model))
        # the threshold itself is learned (not its log): Adam moves it by ~lr per step in
        # activation units, which a log-parameterised small threshold could not (it barely moved)
        init = config.jumprelu_init_threshold
        self.threshold = (nn.Parameter(torch.full((n_layers, d_tc), init))
                          if config.activation == "jumprelu" else None)
        self.W_skip = (nn.Parameter(torch.zeros(n_layers, d_model, d_model)) if config.skip
                       else None)
        self.register_buffer("in_scale", torch.ones(n_layers))
        self.register_buffer("out_scale", torch.ones(n_layers))

    # --- forward -----------------------------------------------------------------------
    def normalise(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x / self.in_scale[:, None], y / self.out_scale[:, None]

    def pre_activation(self, x: torch.Tensor) -> torch.Tensor:
        """[batch n_layers d_transcoder] from normalised inputs [batch n_layers d_model]."""
        return torch.einsum("bld,lfd->blf", x, self.W_enc) + self.b_enc

    def activate(self, pre: torch.Tensor) -> torch.Tensor:
        act = self.config.activation
        if act == "relu":
            return torch.relu(pre)
        if act == "topk":
            return topk_activation(pre, self.config.k)
        return _JumpReLU.apply(pre, self.threshold.clamp_min(0), self.config.jumprelu_bandwidth)

    def decoder_norms(self) -> torch.Tensor:
        """[n_layers d_transcoder] norm of each feature's (concatenated) decoder vectors."""
        return torch.stack([w.flatten(1).norm(dim=1) for w in self.W_dec])

    def decode_features(self, acts: torch.Tensor) -> torch.Tensor:
        """Sum of decoder vectors [batch n_layers d_model] weighted by acts (no bias, no skip)."""
        out = torch.zeros(acts.shape[0], self.n_layers, self.d_model, dtype=acts.dtype,
                          device=acts.device)
        for layer, w in enumerate(self.W_dec):
            out[:, layer:layer + w.shape[1]] += torch.einsum("bf,fkd->bkd", acts[:, layer], w)
        return out

    def decode(self, acts: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction [batch n_layers d_model] from activations and normalised inputs."""
        out = self.decode_features(acts) + self.b_dec
        if self.W_skip is not None:
            out = out + torch.einsum("bld,lkd->blk", x, self.W_skip)
        return out

    def aux_loss(self, pre: torch.Tensor, residual: torch.Tensor,
                 dead: torch.Tensor) -> torch.Tensor:
        """AuxK (Gao et al. 2024): the top `aux_k` dead features reconstruct the residual error.

        pre [batch n_layers d_tc]; residual [batch n_layers d_model] (detached y - recon);
        dead [n_layers d_tc] bool. Returns the squared error summed over layers, divided by
        the residual's own squared norm so it is scale-free.
        """
        k = min(self.config.aux_k, self.config.d_transcoder)
        masked = pre.masked_fill(~dead, float("-inf"))
        values, indices = torch.topk(masked, k, dim=-1)
        acts = torch.zeros_like(pre).scatter(-1, indices, torch.relu(values))
        err = (self.decode_features(acts) - residual).pow(2).sum(-1).mean(0)
        return (err / residual.pow(2).sum(-1).mean(0).clamp_min(1e-12)).sum()

    def _sparsity(self, pre: torch.Tensor, acts: torch.Tensor) -> torch.Tensor:
        """relu: l1 * sum |acts| * decoder norm; jumprelu: l0 * number of active features
        (straight-through gradient to the thresholds); topk: 0."""
        act = self.config.activation
        if act == "relu":
            return self.config.l1 * (acts * self.decoder_norms()).sum(-1).mean(0).sum()
        if act == "jumprelu":
            step = _Step.apply(pre, self.threshold.clamp_min(0), self.config.jumprelu_bandwidth)
            return self.config.l0 * step.sum(-1).mean(0).sum()
        return pre.new_zeros(())

    def forward(self, x: torch.Tensor, y: torch.Tensor,
                dead: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Loss terms and statistics for normalised inputs x and targets y.

        dead [n_layers d_transcoder] bool enables the TopK auxiliary loss on those features.
        """
        pre = self.pre_activation(x)
        acts = self.activate(pre)
        recon = self.decode(acts, x)
        err = (recon - y).pow(2).sum(-1)                                # [batch n_layers]
        mse = err.mean(0)                                               # [n_layers]
        var = (y - y.mean(0)).pow(2).sum(-1).mean(0).clamp_min(1e-12)   # [n_layers]
        loss = mse.sum() + self._sparsity(pre, acts)
        if (self.config.activation == "topk" and self.config.aux_coef > 0 and dead is not None
                and bool(dead.any())):
            loss = loss + self.config.aux_coef * self.aux_loss(pre, (y - recon).detach(), dead)
        return {"loss": loss, "mse": mse.detach(), "fve": (1 - mse / var).detach(),
                "l0": (acts > 0).float().sum(-1).mean(0).detach(), "acts": acts.detach(),
                "token_err": err.detach()}

    # --- initialisation from data and export -------------------------------------------
    @torch.no_grad()
    def init_from_data(self, x: torch.Tensor, y: torch.Tensor) -> None:
        """Set the per-layer scales and b_dec (mean target) from raw [batch n_layers d_model]."""
        d = self.d_model ** 0.5
        self.in_scale.copy_((x.pow(2).sum(-1).mean(0).sqrt() / d).clamp_min(1e-8))
        self.out_scale.copy_((y.pow(2).sum(-1).mean(0).sqrt() / d).clamp_min(1e-8))
        self.b_dec.copy_(y.mean(0) / self.out_scale[:, None])

    @torch.no_grad()
    def export(self, input_hook: str = "mlp.hook_in", output_hook: str = "hook_mlp_out",
               scan: str | None = None):
        """An atlas TranscoderSet acting on raw activations (scales folded into the weights).

        Reading raw x: pre = W_enc (x / s_in) + b_enc, so W_enc' = W_enc / s_in. Writing layer k:
        y_k = s_out_k * (acts @ W_dec + b_dec_k + W_skip x / s_in).
        """
        from atlas.transcoders import TranscoderConfig, TranscoderSet

        cfg = self.config
        s_in, s_out = self.in_scale, self.out_scale
        tconfig = TranscoderConfig(
            kind=cfg.kind, n_layers=self.n_layers, d_model=self.d_model,
            d_transcoder=cfg.d_transcoder, activation=cfg.activation,
            top_k=cfg.k if cfg.activation == "topk" else None, skip=cfg.skip,
            input_hook=input_hook, output_hook=output_hook, scan=scan)
        W_dec = [(w * s_out[i:i + w.shape[1], None]).clone() for i, w in enumerate(self.W_dec)]
        threshold = (list(self.threshold.clamp_min(0).clone())
                     if self.threshold is not None else None)
        skip = ([self.W_skip[i] * s_out[i] / s_in[i] for i in range(self.n_layers)]
                if self.W_skip is not None else None)
        return TranscoderSet(tconfig, [self.W_enc[i] / s_in[i] for i in range(self.n_layers)],
                             [b.clone() for b in self.b_enc], W_dec,
                             [self.b_dec[i] * s_out[i] for i in range(self.n_layers)],
                             threshold, skip)
