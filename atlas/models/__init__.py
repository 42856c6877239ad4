"""Model loading and per-architecture adapters (GPT-2, Llama, Mistral, Gemma-2, Qwen2, Qwen3).

Stable API (other packages build on it):

    load_model(path, device=None, dtype=None) -> LoadedModel
        Load an HF causal LM from a local folder (save_pretrained layout) in eval mode, with
        parameters frozen. device: None/"cpu"/"cuda"/"cuda:N"/"auto"; dtype: None/"fp32"/"bf16".
        LoadedModel fields: model, tokenizer, adapter, device, dtype; properties n_layers, d_model.
    wrap_model(hf_model, tokenizer=None) -> LoadedModel
        The same around a model already in memory.
    get_adapter(hf_model) -> ModelAdapter
        Discovered from config.model_type, else from the module structure. Per layer:
        pre_attn_norm(l), attention(l), post_attn_norm(l) (or None), pre_mlp_norm(l) (its output
        is the MLP input; its input the residual after attention), mlp(l), post_mlp_norm(l) (or
        None), mlp_out_module(l) (its output is added to the residual). Model level: embed,
        pos_embed, final_norm, unembed, W_E [vocab d_model], W_U [d_model vocab], embed_scale,
        n_layers, d_model, norms().
    capture_mlp_io(model, input_ids, attention_mask=None, layers=None) -> (mlp_in, mlp_out)
        Both [n_layers batch pos d_model]: the pre-MLP norm output (TransformerLens
        `mlp.hook_in`) and the block's MLP contribution to the residual (`hook_mlp_out`).
    encode_prompt(tokenizer, prompt) -> ids [pos]
        circuit-tracer tokenization: no special tokens, then BOS (first of bos/pad/eos) prepended.
"""

from atlas.models.adapters import ARCHITECTURES, ArchSpec, ModelAdapter, get_adapter
from atlas.models.loading import (LoadedModel, bos_id, capture_mlp_io, encode_prompt,
                                  load_model, wrap_model)

__all__ = ["ARCHITECTURES", "ArchSpec", "LoadedModel", "ModelAdapter", "bos_id",
           "capture_mlp_io", "encode_prompt", "get_adapter", "load_model", "wrap_model"]
