"""Ingestion throughput: prompts/s and tokens/s of the activation pass and the attribution pass.

    PYTHONPATH=$PWD python benchmarks/bench_ingest.py            # CPU, tiny GPT-2 (minutes)
    PYTHONPATH=$PWD python benchmarks/bench_ingest.py --gpu      # GPT-2-small size, CUDA

Same model, transcoders and prompts for every contestant, measured in the same run, rounds
interleaved (order rotated per round), median seconds per contestant:
- activation pass: atlas `batch_activations` (`--activation-batch` prompts per forward pass, as
  `atlas ingest` runs it) vs the same one prompt at a time vs a loop of circuit-tracer 0.5.0
  `ReplacementModel.get_activations(sparse=True)` on the TransformerLens twin of the weights;
- attribution pass (unpruned graphs): atlas `attribute_many` (`--attribution-batch` prompts
  per pass) vs atlas `attribute` one prompt at a time vs a loop of circuit-tracer `attribute`.
Graphs are compared: batched vs one at a time, and atlas vs circuit-tracer (max |ΔA| / max |A|).
CPU mode: 4 layers, d_model 128, PLTs of 1,024 features, prompts of 12-32 tokens (mixed
lengths, so batches are right-padded), all features. GPU mode: 12 layers, d_model 768, vocab
50,257, PLTs of 24,576 features, prompts of 48-64 tokens, max_feature_nodes 8,192. Weights are
random (seeded); encoder biases are calibrated so about `rate` of (token, feature) pairs fire.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = {
    "cpu": dict(layers=4, d_model=128, d_transcoder=1024, rate=0.01, min_tokens=12,
                max_tokens=32, prompts=256, graph_prompts=16, batch_size=256,
                max_feature_nodes=None),
    "gpu": dict(layers=12, d_model=768, d_transcoder=24576, rate=0.0005, min_tokens=48,
                max_tokens=64, prompts=512, graph_prompts=16, batch_size=256,
                max_feature_nodes=8192),
}
TEXT = ("The quick brown fox jumps over the lazy dog and then it runs away from the farmer, "
        "who was not amused. In the beginning the universe was created; this has made a lot "
        "of people very angry. Paris is the capital of France and Rome is the capital of Italy.")


def _prompts(tokenizer, n: int, lo: int, hi: int, seed: int = 0) -> list[list[int]]:
    """n token-id lists (BOS first) of lengths in [lo, hi], cut from shifted windows of TEXT."""
    from atlas.models import encode_prompt

    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = int(torch.randint(lo, hi + 1, (1,), generator=gen))
        start = (7 * i) % len(TEXT)
        out.append(encode_prompt(tokenizer, (TEXT + " " + TEXT)[start:start + 4 * hi]
                                 )[:length].tolist())
    return out


def build(args, device: torch.device):
    """(loaded model, our transcoders, circuit-tracer twin, prompts)."""
    from atlas.attribution.replacement import capture_transcoder_inputs
    from atlas.models import load_model
    from atlas.transcoders import (calibrate_sparsity, load_transcoders, random_transcoders,
                                   save_transcoders)
    from tests.fixtures import tiny_models
    from tests.oracle.twin import ct_transcoders, tl_replacement_model

    work = Path(tempfile.mkdtemp(prefix="atlas-bench-ingest-"))
    atexit.register(shutil.rmtree, work, ignore_errors=True)
    if args.gpu:
        tiny_models.VOCAB, tiny_models.N_HEADS = 50257, 12
    model_dir = tiny_models.build_tiny_model("gpt2", work / "model", n_layers=args.layers,
                                             d_model=args.d_model)
    loaded = load_model(model_dir, device=device)
    prompts = _prompts(loaded.tokenizer, args.prompts, args.min_tokens, args.max_tokens)
    tset = random_transcoders(args.layers, args.d_model, args.d_transcoder, seed=1).to(device)
    sample = torch.tensor([p[:args.min_tokens] for p in prompts[:8]], device=device)
    xs = capture_transcoder_inputs(loaded.adapter, tset, sample)[:, :, 1:]
    tset = calibrate_sparsity(tset, xs.reshape(args.layers, -1, args.d_model), args.rate)
    folder = save_transcoders(tset, work / "tc")
    ours = load_transcoders(folder, device=device)
    twin = tl_replacement_model(model_dir, loaded.model, loaded.tokenizer,
                                ct_transcoders(folder).to(device), device=device)
    return loaded, ours, twin, prompts


def _timed(fn, device: torch.device) -> tuple[float, object]:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    result = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, result


def _race(contestants: dict, rounds: int, device: torch.device) -> tuple[dict, dict]:
    """Median seconds per contestant over `rounds` (order rotated), and each one's last result."""
    seconds: dict[str, list[float]] = {name: [] for name in contestants}
    results: dict[str, object] = {}
    names = list(contestants)
    for r in range(rounds):
        for name in names[r % len(names):] + names[:r % len(names)]:
            secs, results[name] = _timed(contestants[name], device)
            seconds[name].append(secs)
            print(f"  round {r}: {name}: {secs:.2f}s", flush=True)  # noqa: T201
    return {k: statistics.median(v) for k, v in seconds.items()}, results


def _rel_diff(graphs_a: list, graphs_b: list, adjacency_b: str = "adjacency") -> float:
    """max over prompts of max |A_a - A_b| / max |A_b| (inf if the node sets differ)."""
    worst = 0.0
    for a, b in zip(graphs_a, graphs_b):
        A, B = a.adjacency.cpu(), getattr(b, adjacency_b).cpu()
        if A.shape != B.shape or not torch.equal(a.selected_features.cpu(),
                                                 b.selected_features.cpu()):
            return float("inf")
        worst = max(worst, float((A - B).abs().max() / B.abs().max()))
    return worst


def activation_race(args, loaded, tset, twin, prompts, device) -> dict:
    from ingest.activations import batch_activations

    names = [f"p{i}" for i in range(len(prompts))]
    step = args.activation_batch

    def batched():
        return sum(batch_activations(loaded, tset, "r", names[lo:lo + step],
                                     prompts[lo:lo + step])[0].num_rows
                   for lo in range(0, len(prompts), step))

    def single():
        return sum(batch_activations(loaded, tset, "r", [n], [p])[0].num_rows
                   for n, p in zip(names, prompts))

    def theirs():
        total = 0
        for p in prompts:
            _, acts = twin.get_activations(torch.tensor(p, device=device), sparse=True)
            total += int(acts._nnz())  # BOS position included, unlike atlas
        return total

    with torch.no_grad():
        batched(), single(), theirs()  # warm-up
        secs, results = _race({f"atlas, {step} per pass": batched, "atlas, 1 per pass": single,
                               "circuit-tracer get_activations loop": theirs},
                              args.rounds, device)
    print(f"  non-zero activations: {results}", flush=True)  # noqa: T201
    return secs


def attribution_race(args, loaded, tset, twin, prompts, device) -> tuple[dict, dict]:
    from circuit_tracer.attribution.attribute import attribute as ct_attribute

    from atlas.attribution import attribute, attribute_many

    graph_prompts = prompts[:args.graph_prompts]
    settings = dict(batch_size=args.batch_size, max_feature_nodes=args.max_feature_nodes)

    def batched():
        return attribute_many(graph_prompts, loaded, tset, prompts_per_pass=args.attribution_batch,
                              **settings)

    def single():
        return [attribute(p, loaded, tset, **settings) for p in graph_prompts]

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return [ct_attribute(torch.tensor(p, device=device), twin, verbose=False, **settings)
                    for p in graph_prompts]

    attribute(graph_prompts[0], loaded, tset, **settings)  # warm-up
    attribute_many(graph_prompts[:2], loaded, tset, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ct_attribute(torch.tensor(graph_prompts[0], device=device), twin, verbose=False,
                     **settings)
    k = args.attribution_batch
    secs, results = _race({f"atlas attribute_many, {k} per pass": batched,
                           "atlas attribute, 1 per pass": single,
                           "circuit-tracer attribute loop": theirs}, args.rounds, device)
    got = list(results.values())
    checks = {"batched vs one at a time": _rel_diff(got[0], got[1]),
              "atlas vs circuit-tracer": _rel_diff(got[1], got[2], "adjacency_matrix"),
              "features": statistics.median(g.n_features for g in got[1])}
    return secs, checks


def _device_line(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name()}, torch {torch.__version__}"
    return (f"CPU {platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch "
            f"threads, torch {torch.__version__}")


def report(args, device, load: tuple[float, float], acts: dict, attr: dict, checks: dict,
           prompts: list[list[int]]) -> str:
    graph_prompts = prompts[:args.graph_prompts]
    mode = "gpu" if args.gpu else "cpu"
    lines = [f"### {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {mode} mode, "
             f"{_device_line(device)}, load average {load[0]:.1f} before / {load[1]:.1f} after",
             "",
             f"GPT-2-like {args.layers}L d{args.d_model}, PLT {args.d_transcoder} features, "
             f"{args.min_tokens}-{args.max_tokens}-token prompts, fp32, batch_size "
             f"{args.batch_size}, max_feature_nodes {args.max_feature_nodes or 'all'} "
             f"(median {checks['features']:.0f} feature nodes), {args.rounds} rounds.", "",
             "| pass | contestant | prompts | seconds | prompts/s | tokens/s |",
             "|---|---|---|---|---|---|"]
    for label, secs, ps in (("activation", acts, prompts), ("attribution", attr, graph_prompts)):
        n_tok = sum(map(len, ps))
        for name, s in secs.items():
            lines.append(f"| {label} | {name} | {len(ps)} | {s:.2f} | {len(ps) / s:.2f} "
                         f"| {n_tok / s:.0f} |")
    a, t = list(acts.values()), list(attr.values())
    lines += ["",
              f"Activation pass: batched {a[1] / a[0]:.1f}x one at a time, "
              f"{a[2] / a[0]:.1f}x the circuit-tracer loop. Attribution: batched "
              f"{t[1] / t[0]:.2f}x one at a time, {t[2] / t[0]:.2f}x the circuit-tracer loop "
              f"(one at a time: {t[2] / t[1]:.2f}x). Graphs: batched vs one at a time max "
              f"|ΔA|/max|A| {checks['batched vs one at a time']:.1e}; atlas vs circuit-tracer "
              f"{checks['atlas vs circuit-tracer']:.1e}."]
    return "\n".join(lines) + "\n"


SECTION = """## Ingestion

Throughput of the two compute passes of `atlas ingest`, atlas vs circuit-tracer 0.5.0 in the
same run (`benchmarks/bench_ingest.py`; method in its docstring). Pruning, shard tables and
Parquet writing are not timed here (the worker writes a shard on a background thread while
computing the next). The store side of ingestion, merging activation records into DuckDB
(top-k, stats, samples), is measured at 1e8 records in the DuckDB top-k section above
(0.5-0.7 M records/s on this machine), not redone here.
"""


def write(text: str, path: Path) -> None:
    content = path.read_text() if path.exists() else "# Benchmarks\n"
    if "## Ingestion" not in content:
        content = content.rstrip("\n") + "\n\n" + SECTION
    start = content.index("## Ingestion")
    nxt = content.find("\n## ", start + 1)
    end = len(content) if nxt == -1 else nxt + 1
    section = content[start:end].rstrip("\n") + "\n\n" + text
    path.write_text(content[:start] + section + ("\n" + content[end:] if nxt != -1 else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="GPT-2-small sized run on CUDA")
    parser.add_argument("--prompts", type=int, help="activation-pass prompts (mode default)")
    parser.add_argument("--graph-prompts", type=int, help="attribution prompts (mode default)")
    parser.add_argument("--min-tokens", type=int, help="shortest prompt, BOS included")
    parser.add_argument("--max-tokens", type=int, help="longest prompt, BOS included")
    parser.add_argument("--max-feature-nodes", type=int,
                        help="override the mode's cap on feature nodes (0: all features)")
    parser.add_argument("--activation-batch", type=int, default=16)
    parser.add_argument("--attribution-batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (1: more spin on a shared, loaded machine)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    for key, value in MODES["gpu" if args.gpu else "cpu"].items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    args.max_feature_nodes = args.max_feature_nodes or None
    if args.gpu and not torch.cuda.is_available():
        raise SystemExit("--gpu needs CUDA; run without it on CPU")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device("cuda" if args.gpu else "cpu")
    load_before = os.getloadavg()[0]
    loaded, tset, twin, prompts = build(args, device)
    print("activation pass", flush=True)  # noqa: T201
    acts = activation_race(args, loaded, tset, twin, prompts, device)
    print("attribution pass", flush=True)  # noqa: T201
    attr, checks = attribution_race(args, loaded, tset, twin, prompts, device)
    text = report(args, device, (load_before, os.getloadavg()[0]), acts, attr, checks, prompts)
    del twin  # circuit-tracer's __del__ fails if left to interpreter shutdown
    print(text)  # noqa: T201 - a benchmark's output
    if not args.no_write:
        write(text, ROOT / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
