"""Read and write transcoder sets: circuit-tracer's folder layout (read/write), SAELens (read).

circuit-tracer layout (a folder with config.yaml):
  config.yaml  model_kind (transcoder_set | cross_layer_transcoder), feature_input_hook,
               feature_output_hook, scan; we add activation_function and top_k (topk only).
  PLT: layer_{i}.safetensors with W_enc [d_tc d_model], W_dec [d_tc d_model], b_enc [d_tc],
       b_dec [d_model], optional activation_function.threshold [d_tc], optional W_skip.
  CLT: W_enc_{i}.safetensors with W_enc_{i}, b_enc_{i}, b_dec_{i}, optional threshold_{i}
       (and our optional W_skip_{i}); W_dec_{i}.safetensors with W_dec_{i}
       [d_tc n_layers-i d_model].
SAELens: a folder with cfg.json + sae_weights.safetensors (one layer; W_enc is [d_in d_sae]), or
a folder of such folders (one per layer).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from atlas.devices import resolve_device, resolve_dtype
from atlas.errors import InputError
from atlas.transcoders.model import TranscoderConfig, TranscoderSet

_KINDS = {"transcoder_set": "plt", "cross_layer_transcoder": "clt"}


def _read_tensors(path: Path) -> dict[str, torch.Tensor]:
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as e:
        raise InputError(f"cannot read transcoder file {path}: {e}; re-write the file") from e


def _activation(cfg: dict[str, Any], has_threshold: bool) -> tuple[str, int | None]:
    name = str(cfg.get("activation_function", "jumprelu" if has_threshold else "relu")).lower()
    name = {"jump_relu": "jumprelu"}.get(name, name)
    return name, cfg.get("top_k")


def _load_plt(folder: Path, cfg: dict[str, Any]) -> TranscoderSet:
    files = sorted(folder.glob("layer_*.safetensors"), key=lambda p: int(p.stem.split("_")[1]))
    if not files:
        raise InputError(f"{folder}: config.yaml says transcoder_set but no layer_*.safetensors")
    layers = [_read_tensors(f) for f in files]
    for i, f in enumerate(files):
        if int(f.stem.split("_")[1]) != i:
            raise InputError(f"{folder}: layer files must be layer_0..layer_{len(files) - 1}; "
                             f"found {f.name}")
        for key in ("W_enc", "W_dec", "b_enc", "b_dec"):
            if key not in layers[i]:
                raise InputError(f"{f}: tensor {key} missing; expected W_enc, W_dec, b_enc, b_dec")
    has_threshold = "activation_function.threshold" in layers[0]
    activation, top_k = _activation(cfg, has_threshold)
    d_tc, d_model = layers[0]["W_enc"].shape
    config = TranscoderConfig(
        kind="plt", n_layers=len(layers), d_model=d_model, d_transcoder=d_tc,
        activation=activation, top_k=top_k, skip="W_skip" in layers[0],
        input_hook=cfg["feature_input_hook"], output_hook=cfg["feature_output_hook"],
        scan=cfg.get("scan"))
    thresholds = ([t["activation_function.threshold"].reshape(-1) for t in layers]
                  if has_threshold else None)
    return TranscoderSet(
        config, [t["W_enc"] for t in layers], [t["b_enc"] for t in layers],
        [t["W_dec"].unsqueeze(1) if t["W_dec"].ndim == 2 else t["W_dec"] for t in layers],
        [t["b_dec"] for t in layers], thresholds,
        [t["W_skip"] for t in layers] if config.skip else None)


def _load_clt(folder: Path, cfg: dict[str, Any]) -> TranscoderSet:
    n_layers = len(list(folder.glob("W_enc_*.safetensors")))
    if n_layers == 0:
        raise InputError(f"{folder}: config.yaml says cross_layer_transcoder but has no "
                         "W_enc_*.safetensors")
    enc = [_read_tensors(folder / f"W_enc_{i}.safetensors") for i in range(n_layers)]
    dec = [_read_tensors(folder / f"W_dec_{i}.safetensors") for i in range(n_layers)]
    has_threshold = "threshold_0" in enc[0]
    activation, top_k = _activation(cfg, has_threshold)
    d_tc, d_model = enc[0]["W_enc_0"].shape
    config = TranscoderConfig(
        kind="clt", n_layers=n_layers, d_model=d_model, d_transcoder=d_tc,
        activation=activation, top_k=top_k, skip="W_skip_0" in enc[0],
        input_hook=cfg["feature_input_hook"], output_hook=cfg["feature_output_hook"],
        scan=cfg.get("scan"))
    get = lambda key: [e[f"{key}_{i}"] for i, e in enumerate(enc)]  # noqa: E731
    return TranscoderSet(
        config, get("W_enc"), get("b_enc"), [d[f"W_dec_{i}"] for i, d in enumerate(dec)],
        get("b_dec"), [t.reshape(-1) for t in get("threshold")] if has_threshold else None,
        get("W_skip") if config.skip else None)


_SAE_IN_HOOKS = {"ln2.hook_normalized": "ln2.hook_normalized", "hook_resid_mid": "hook_resid_mid",
                 "mlp.hook_in": "mlp.hook_in", "ln2.hook_out": "mlp.hook_in"}
_SAE_OUT_HOOKS = {"hook_mlp_out": "hook_mlp_out", "mlp.hook_out": "mlp.hook_out",
                  "mlp.hook_post": "mlp.hook_out"}


def _sae_hook(name: str, table: dict[str, str]) -> tuple[int, str]:
    parts = name.split(".")
    if len(parts) < 3 or parts[0] != "blocks" or not parts[1].isdigit():
        raise InputError(f"SAELens hook {name!r} is not blocks.<layer>.<hook>; fix cfg.json")
    rest = ".".join(parts[2:])
    if rest not in table:
        raise InputError(f"SAELens hook {name!r} unsupported; valid: {', '.join(table)}")
    return int(parts[1]), table[rest]


def _load_saelens_layer(folder: Path) -> tuple[int, dict[str, Any], dict[str, torch.Tensor]]:
    cfg = json.loads((folder / "cfg.json").read_text())
    tensors = _read_tensors(folder / "sae_weights.safetensors")
    hook_in = cfg.get("hook_name") or cfg.get("metadata", {}).get("hook_name")
    hook_out = cfg.get("hook_name_out") or cfg.get("metadata", {}).get("hook_name_out")
    if not hook_in or not hook_out:
        raise InputError(f"{folder}/cfg.json: hook_name and hook_name_out are required")
    layer, in_hook = _sae_hook(hook_in, _SAE_IN_HOOKS)
    _, out_hook = _sae_hook(hook_out, _SAE_OUT_HOOKS)
    W_enc = tensors["W_enc"].T.contiguous()
    b_enc = tensors["b_enc"]
    if cfg.get("apply_b_dec_to_input"):
        if tensors["b_dec"].shape[0] != W_enc.shape[1]:
            raise InputError(f"{folder}/cfg.json: apply_b_dec_to_input needs d_in == d_out; "
                             "convert the transcoder first")
        b_enc = b_enc - W_enc @ tensors["b_dec"]  # fold the input centering into the bias
    act = str(cfg.get("activation_fn") or "relu").lower()
    arch = str(cfg.get("architecture", "")).lower()
    if "threshold" in tensors or "jumprelu" in arch or act == "jumprelu":
        act = "jumprelu"
    top_k = (cfg.get("activation_fn_kwargs") or {}).get("k") or cfg.get("k")
    entry = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": tensors["W_dec"].unsqueeze(1),
             "b_dec": tensors["b_dec"], "threshold": tensors.get("threshold"),
             "W_skip": tensors.get("W_skip")}
    meta = {"in": in_hook, "out": out_hook, "activation": "topk" if act == "topk" else act,
            "top_k": top_k}
    return layer, meta, entry


def _load_saelens(folders: list[Path], root: Path) -> TranscoderSet:
    loaded = sorted((_load_saelens_layer(f) for f in folders), key=lambda x: x[0])
    layers = [layer for layer, _, _ in loaded]
    if layers != list(range(len(layers))):
        raise InputError(f"{root}: SAELens transcoders cover layers {layers}; need 0..n-1")
    meta = loaded[0][1]
    entries = [e for _, _, e in loaded]
    d_tc, d_model = entries[0]["W_enc"].shape
    activation = meta["activation"]
    if activation not in ("relu", "jumprelu", "topk"):
        raise InputError(f"{root}: SAELens activation {activation!r} unsupported; "
                         "valid: relu, jumprelu, topk")
    config = TranscoderConfig(
        kind="plt", n_layers=len(entries), d_model=d_model, d_transcoder=d_tc,
        activation=activation, top_k=meta["top_k"], skip=entries[0]["W_skip"] is not None,
        input_hook=meta["in"], output_hook=meta["out"], scan=str(root))
    pick = lambda key: [e[key] for e in entries]  # noqa: E731
    return TranscoderSet(config, pick("W_enc"), pick("b_enc"), pick("W_dec"), pick("b_dec"),
                         pick("threshold") if activation == "jumprelu" else None,
                         pick("W_skip") if config.skip else None)


def load_transcoders(folder: str | Path, device: Any = None, dtype: Any = None) -> TranscoderSet:
    """Load a transcoder set from `folder` (circuit-tracer layout or SAELens folders)."""
    root = Path(folder)
    if (root / "config.yaml").is_file():
        try:
            cfg = yaml.safe_load((root / "config.yaml").read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise InputError(f"cannot read {root / 'config.yaml'}: {e}; fix the file") from e
        kind = _KINDS.get(cfg.get("model_kind"))
        if kind is None:
            raise InputError(f"{root}/config.yaml: model_kind {cfg.get('model_kind')!r} unknown; "
                             f"valid: {', '.join(_KINDS)}")
        for key in ("feature_input_hook", "feature_output_hook"):
            if key not in cfg:
                raise InputError(f"{root}/config.yaml: {key} missing; add it")
        tset = _load_plt(root, cfg) if kind == "plt" else _load_clt(root, cfg)
        if tset.config.scan is None:
            tset = tset.with_config(scan=str(root))
    elif (root / "cfg.json").is_file():
        tset = _load_saelens([root], root)
    elif root.is_dir() and (subs := sorted(p.parent for p in root.glob("*/cfg.json"))):
        tset = _load_saelens(subs, root)
    else:
        raise InputError(f"no transcoders at {root}: expected config.yaml (circuit-tracer layout)"
                         " or cfg.json (SAELens)")
    return tset.to(resolve_device(device), resolve_dtype(dtype))


def _plt_files(tset: TranscoderSet) -> dict[str, dict[str, torch.Tensor]]:
    files = {}
    for i in range(tset.n_layers):
        tensors = {"W_enc": tset.W_enc[i], "W_dec": tset.W_dec[i][:, 0], "b_enc": tset.b_enc[i],
                   "b_dec": tset.b_dec[i]}
        if tset.threshold is not None:
            tensors["activation_function.threshold"] = tset.threshold[i]
        if tset.W_skip is not None:
            tensors["W_skip"] = tset.W_skip[i]
        files[f"layer_{i}.safetensors"] = tensors
    return files


def _clt_files(tset: TranscoderSet) -> dict[str, dict[str, torch.Tensor]]:
    files = {}
    for i in range(tset.n_layers):
        enc = {f"W_enc_{i}": tset.W_enc[i], f"b_enc_{i}": tset.b_enc[i],
               f"b_dec_{i}": tset.b_dec[i]}
        if tset.threshold is not None:
            enc[f"threshold_{i}"] = tset.threshold[i]
        if tset.W_skip is not None:
            enc[f"W_skip_{i}"] = tset.W_skip[i]
        files[f"W_enc_{i}.safetensors"] = enc
        files[f"W_dec_{i}.safetensors"] = {f"W_dec_{i}": tset.W_dec[i]}
    return files


def save_transcoders(tset: TranscoderSet, folder: str | Path) -> Path:
    """Write `tset` in circuit-tracer's layout to `folder` (replaced atomically); return it."""
    target = Path(folder)
    target.parent.mkdir(parents=True, exist_ok=True)
    cfg = tset.config
    config = {"model_kind": "transcoder_set" if cfg.kind == "plt" else "cross_layer_transcoder",
              "feature_input_hook": cfg.input_hook, "feature_output_hook": cfg.output_hook,
              "scan": cfg.scan or target.name, "activation_function": cfg.activation}
    if cfg.top_k:
        config["top_k"] = cfg.top_k
    files = _plt_files(tset) if cfg.kind == "plt" else _clt_files(tset)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for name, tensors in files.items():
            save_file({k: v.detach().to("cpu").contiguous() for k, v in tensors.items()},
                      str(tmp / name))
        (tmp / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=True))
        if target.exists():
            old = target.with_name(f".{target.name}.old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise InputError(f"cannot write transcoders to {target}: {e}; check the path") from e
    return target
