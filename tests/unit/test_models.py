"""Model loading, adapter discovery and MLP capture on tiny local models."""

import pytest
import torch

from atlas.errors import InputError
from atlas.models import capture_mlp_io, encode_prompt, get_adapter, load_model
from atlas.models.adapters import ArchSpec
from tests.fixtures.tiny_models import ARCHS, tiny_model_dir


@pytest.mark.parametrize("arch", ARCHS)
def test_capture_matches_modules(arch):
    loaded = load_model(tiny_model_dir(arch), device="cpu", dtype="fp32")
    adapter = loaded.adapter
    ids = encode_prompt(loaded.tokenizer, "The cat sat")
    assert ids[0].item() == loaded.tokenizer.bos_token_id
    mlp_in, mlp_out = capture_mlp_io(loaded, ids[None])
    assert mlp_in.shape == (adapter.n_layers, 1, len(ids), adapter.d_model)
    for layer in range(adapter.n_layers):
        out = adapter.mlp(layer)(mlp_in[layer])
        post = adapter.post_mlp_norm(layer)
        out = post(out) if post is not None else out
        torch.testing.assert_close(out, mlp_out[layer])


def test_structural_discovery_for_unknown_model_type():
    loaded = load_model(tiny_model_dir("llama"))
    loaded.model.config.model_type = "my-llama-fork"
    try:
        assert get_adapter(loaded.model).spec.layers == "model.layers"
    finally:
        loaded.model.config.model_type = "llama"


def test_unsupported_architecture_is_one_line_error():
    with pytest.raises(InputError, match="unsupported architecture"):
        get_adapter(torch.nn.Linear(2, 2))


def test_missing_folder_is_input_error(tmp_path):
    with pytest.raises(InputError, match="config.json missing"):
        load_model(tmp_path)


def test_bf16_load():
    loaded = load_model(tiny_model_dir("gpt2"), dtype="bf16")
    assert next(loaded.model.parameters()).dtype == torch.bfloat16
    mlp_in, _ = capture_mlp_io(loaded, torch.tensor([[256, 1, 2]]))
    assert mlp_in.dtype == torch.bfloat16


def test_device_and_dtype_resolution():
    from atlas.devices import resolve_device, resolve_dtype

    assert resolve_device(None).type == "cpu"
    assert resolve_device("auto").type in ("cpu", "cuda")
    assert resolve_dtype(None) == torch.float32
    assert resolve_dtype("bf16") == torch.bfloat16
    with pytest.raises(InputError, match="unknown dtype"):
        resolve_dtype("fp8")
    with pytest.raises(InputError, match="unknown device"):
        resolve_device("tpu:x")
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA is not available"):
            resolve_device("cuda")
