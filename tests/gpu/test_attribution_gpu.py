"""Attribution on CUDA agrees with CPU (fp32) and runs in bf16; skipped without a GPU."""

import pytest
import torch

from atlas.attribution import attribute, attribute_many, prune_graph
from atlas.models import load_model
from tests.fixtures.tiny_models import tiny_model_dir, tiny_transcoders

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("arch", ["gpt2", "llama", "gemma2"])
def test_cuda_matches_cpu(arch):
    cpu = load_model(tiny_model_dir(arch))
    tset = tiny_transcoders(cpu)
    g_cpu = attribute("The cat sat on", cpu, tset, batch_size=16)
    gpu = load_model(tiny_model_dir(arch), device="cuda")
    g_gpu = attribute("The cat sat on", gpu, tset, batch_size=16)
    assert torch.equal(g_cpu.active_features, g_gpu.active_features.cpu())
    diff = (g_cpu.adjacency - g_gpu.adjacency.cpu()).abs().max()
    assert diff < 1e-4 * g_cpu.adjacency.abs().max()
    assert prune_graph(g_gpu).node_mask.device.type == "cuda"
    bf16 = attribute("The cat sat on", load_model(tiny_model_dir(arch), device="cuda",
                                                  dtype="bf16"), tset, batch_size=16)
    assert torch.isfinite(bf16.adjacency).all()


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_cuda_shared_passes_match_one_prompt_at_a_time(arch):
    gpu = load_model(tiny_model_dir(arch), device="cuda")
    tset = tiny_transcoders(gpu)
    prompts = ["The cat sat on", "A dog", "Rain fell all night over the hills", "A dog"]
    many = attribute_many(prompts, gpu, tset, batch_size=16, prompts_per_pass=4)
    for prompt, got in zip(prompts, many):
        want = attribute(prompt, gpu, tset, batch_size=16)
        assert torch.equal(got.selected_features, want.selected_features)
        assert (got.adjacency - want.adjacency).abs().max() <= 1e-5 * want.adjacency.abs().max()
