"""circuit-tracer twins of our tiny HF models: a TransformerLens ReplacementModel built offline
from the same HF weights, and circuit-tracer transcoder objects loaded from our files."""

from __future__ import annotations

from pathlib import Path

import torch


def ct_transcoders(folder: Path, dtype=torch.float32):
    """circuit-tracer's own loader on a folder in its layout (PLT or CLT)."""
    import yaml
    cfg = yaml.safe_load((Path(folder) / "config.yaml").read_text())
    if cfg["model_kind"] == "transcoder_set":
        from circuit_tracer.transcoder.single_layer_transcoder import load_transcoder_set
        files = sorted(Path(folder).glob("layer_*.safetensors"))
        paths = {int(f.stem.split("_")[1]): str(f) for f in files}
        return load_transcoder_set(paths, scan=cfg["scan"],
                                   feature_input_hook=cfg["feature_input_hook"],
                                   feature_output_hook=cfg["feature_output_hook"],
                                   device=torch.device("cpu"), dtype=dtype,
                                   lazy_encoder=False, lazy_decoder=False)
    from circuit_tracer.transcoder.cross_layer_transcoder import load_clt
    return load_clt(str(folder), feature_input_hook=cfg["feature_input_hook"],
                    feature_output_hook=cfg["feature_output_hook"], scan=cfg["scan"],
                    device=torch.device("cpu"), dtype=dtype, lazy_decoder=False)


def tl_replacement_model(model_dir: Path, hf_model, tokenizer, transcoders,
                         dtype=torch.float32, device="cpu"):
    """TransformerLensReplacementModel with hf_model's weights, no weight processing."""
    from circuit_tracer.replacement_model.replacement_model_transformerlens import (
        TransformerLensReplacementModel)
    from transformer_lens import HookedTransformerConfig
    from transformer_lens.loading_from_pretrained import convert_hf_model_config
    from transformer_lens.pretrained.weight_conversions import (convert_gpt2_weights,
                                                                convert_llama_weights)

    cfg_dict = convert_hf_model_config(str(model_dir))
    cfg_dict.update(dtype=dtype, device=str(device), tokenizer_name=None, model_name=str(model_dir),
                    original_architecture=hf_model.config.architectures[0])
    cfg = HookedTransformerConfig(**{k: v for k, v in cfg_dict.items()
                                     if k in HookedTransformerConfig.__dataclass_fields__})
    convert = {"gpt2": convert_gpt2_weights, "llama": convert_llama_weights}[
        hf_model.config.model_type]
    state = convert(hf_model, cfg)
    model = TransformerLensReplacementModel(cfg, tokenizer=tokenizer)
    model.load_and_process_state_dict(state, fold_ln=False, center_writing_weights=False,
                                      center_unembed=False, fold_value_biases=False)
    model.cfg.tokenizer_name = str(model_dir)  # create_graph_files reloads it from here
    model._configure_replacement_model(transcoders)
    return model
