"""Seconds per graph and peak memory: atlas vs circuit-tracer 0.5.0, same model, transcoders and
prompts, measured in the same run (interleaved), fp32. Appends a row to BENCHMARKS.md.

    PYTHONPATH=$PWD python benchmarks/bench_attribution.py            # CPU, tiny-ish GPT-2
    PYTHONPATH=$PWD python benchmarks/bench_attribution.py --gpu      # GPT-2-small size, CUDA

CPU mode: 4 layers, d_model 128, PLTs of 2,048 features, ~40-token prompts, all features.
GPU mode: 12 layers, d_model 768, vocab 50,257, PLTs of 24,576 features, 64-token prompts,
max_feature_nodes 8,192. Weights are random (seeded); encoder biases are calibrated so about
`--rate` of (token, feature) pairs fire. Output equality is checked on every prompt.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PROMPTS = [
    "The quick brown fox jumps over the lazy dog and then it runs away from",
    "In the beginning the universe was created. This has made a lot of people very",
    "Paris is the capital of France, Berlin is the capital of Germany, and Rome is",
    "She opened the door, looked at the empty room, and realised that the keys were",
    "def fibonacci(n): return n if n < 2 else fibonacci(n - 1) + fibonacci(n - 2) #",
]


class PeakRSS:
    """Peak resident-set growth (MiB) of this process while the context is open (sampled)."""

    def __init__(self, interval: float = 0.002):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        return 0

    def _watch(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(self.interval)

    def __enter__(self) -> "PeakRSS":
        self.base = self.peak = self._rss()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.mib = (max(self.peak, self._rss()) - self.base) / 2**20


def _measure(fn, device: torch.device):
    """(seconds, peak MiB, result) of fn()."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.empty_cache()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = fn()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        return seconds, (torch.cuda.max_memory_allocated() - base) / 2**20, result
    with PeakRSS() as rss:
        start = time.perf_counter()
        result = fn()
        seconds = time.perf_counter() - start
    return seconds, rss.mib, result


def build(args, device):
    from atlas.attribution.replacement import capture_transcoder_inputs
    from atlas.models import encode_prompt, load_model
    from atlas.transcoders import (calibrate_sparsity, load_transcoders, random_transcoders,
                                   save_transcoders)
    from tests.fixtures import tiny_models
    from tests.oracle.twin import ct_transcoders, tl_replacement_model

    work = Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    if args.gpu:
        tiny_models.VOCAB, tiny_models.N_HEADS = 50257, 12
    model_dir = tiny_models.build_tiny_model("gpt2", work / "model", n_layers=args.layers,
                                             d_model=args.d_model)
    loaded = load_model(model_dir, device=device)
    tset = random_transcoders(args.layers, args.d_model, args.d_transcoder, seed=1).to(device)
    ids = torch.cat([encode_prompt(loaded.tokenizer, p)[None, :args.n_tokens] for p in PROMPTS])
    xs = capture_transcoder_inputs(loaded.adapter, tset, ids.to(device))[:, :, 1:]
    tset = calibrate_sparsity(tset, xs.reshape(args.layers, -1, args.d_model), args.rate)
    folder = save_transcoders(tset, work / "tc")
    ours_t = load_transcoders(folder, device=device)
    twin = tl_replacement_model(model_dir, loaded.model, loaded.tokenizer,
                                ct_transcoders(folder).to(device), device=device)
    return loaded, ours_t, twin, [row for row in ids], (model_dir, folder)


def run(args) -> dict:
    from circuit_tracer.attribution.attribute import attribute as ct_attribute

    from atlas.attribution import attribute

    device = torch.device("cuda" if args.gpu else "cpu")
    loaded, tset, twin, prompts, (model_dir, tc_dir) = build(args, device)
    settings = dict(batch_size=args.batch_size, max_feature_nodes=args.max_feature_nodes)

    def ours(p):
        return attribute(p, loaded, tset, **settings)

    def theirs(p):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ct_attribute(p, twin, **settings)

    ours(prompts[0]), theirs(prompts[0])  # warm-up
    rows = {"ours": [], "ct": []}
    worst = 0.0
    n_feats = []
    for i, p in enumerate(prompts[:args.prompts]):
        order = [("ours", ours), ("ct", theirs)] if i % 2 == 0 else [("ct", theirs), ("ours", ours)]
        graphs = {}
        for name, fn in order:
            seconds, mib, graphs[name] = _measure(lambda: fn(p), device)
            rows[name].append((seconds, mib))
        A, B = graphs["ours"].adjacency.cpu(), graphs["ct"].adjacency_matrix.cpu()
        same = torch.equal(graphs["ours"].selected_features.cpu(),
                           graphs["ct"].selected_features.cpu())
        worst = max(worst, float((A - B).abs().max() / B.abs().max()) if same else float("inf"))
        n_feats.append(graphs["ours"].n_features)
        print(f"prompt {i}: ours {rows['ours'][-1][0]:.2f}s ct {rows['ct'][-1][0]:.2f}s "
              f"features {n_feats[-1]} rel diff {worst:.1e}", flush=True)
    med = {k: statistics.median(s for s, _ in v) for k, v in rows.items()}
    mem = {k: max(m for _, m in v) for k, v in rows.items()}
    if not args.gpu:  # RSS growth is only meaningful in a fresh process: one child per engine
        del loaded, tset, twin
        mem = {k: _child_peak(k, args, model_dir, tc_dir, prompts[0]) for k in ("ours", "ct")}
    return {"device": torch.cuda.get_device_name() if args.gpu else
            f"CPU {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
            f"load avg {os.getloadavg()[0]:.1f}",
            "ours_s": med["ours"], "ct_s": med["ct"], "ours_mib": mem["ours"], "ct_mib": mem["ct"],
            "ratio": med["ct"] / med["ours"], "rel_diff": worst,
            "features": statistics.median(n_feats)}


def _child_peak(engine: str, args, model_dir: Path, tc_dir: Path, ids: torch.Tensor) -> float:
    """Peak RSS growth (MiB) of one graph computed by `engine` in a fresh process."""
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--child", engine, "--model-dir", str(model_dir),
           "--tc-dir", str(tc_dir), "--ids", ",".join(map(str, ids.tolist())),
           "--threads", str(args.threads), "--batch", str(args.batch_size),
           "--max-feature-nodes", str(args.max_feature_nodes or 0)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])["mib"]


def child(args) -> None:
    """--child: load, then measure one graph's RSS growth; print {"mib": ...}."""
    import json

    from atlas.attribution import attribute
    from atlas.models import load_model
    from atlas.transcoders import load_transcoders
    from tests.oracle.twin import ct_transcoders, tl_replacement_model

    torch.set_num_threads(args.threads)
    loaded = load_model(args.model_dir)
    ids = [int(i) for i in args.ids.split(",")]
    settings = dict(batch_size=args.batch, max_feature_nodes=args.max_feature_nodes or None)
    if args.child == "ours":
        tset = load_transcoders(args.tc_dir)
        fn = lambda p=ids: attribute(p, loaded, tset, **settings)  # noqa: E731
    else:
        from circuit_tracer.attribution.attribute import attribute as ct_attribute

        twin = tl_replacement_model(Path(args.model_dir), loaded.model, loaded.tokenizer,
                                    ct_transcoders(Path(args.tc_dir)))
        fn = lambda p=ids: ct_attribute(torch.tensor(p), twin, **settings)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(ids[:4])  # lazy imports and one-time setup; large buffers are unmapped when freed
        with PeakRSS() as rss:
            fn()
    print(json.dumps({"mib": rss.mib}))


def write_row(args, r: dict, path: Path) -> None:
    cap = f" (max {args.max_feature_nodes})" if args.max_feature_nodes else ""
    shape = (f"GPT-2-like {args.layers}L d{args.d_model}, PLT {args.d_transcoder}, "
             f"{args.n_tokens} tok, {r['features']:.0f} feature nodes{cap}, "
             f"batch {args.batch_size}")
    row = (f"| {dt.date.today()} | {r['device']} | {shape} | {r['ours_s']:.2f} | {r['ct_s']:.2f} "
           f"| {r['ratio']:.2f}x | {r['ours_mib']:.0f} | {r['ct_mib']:.0f} | {r['rel_diff']:.1e} |")
    header = ("## Attribution\n\nSeconds per graph (median over prompts) and peak memory growth "
              "(MiB: CUDA allocator peak, or sampled RSS of one graph in a fresh process on CPU), "
              "atlas vs circuit-tracer 0.5.0 "
              "measured in the same run, fp32; `rel diff` = max |A_ours - A_ct| / max |A_ct|. "
              "Produced by `benchmarks/bench_attribution.py`.\n\n"
              "| date | device | workload | atlas s | circuit-tracer s | speed-up | atlas MiB "
              "| circuit-tracer MiB | rel diff |\n|---|---|---|---|---|---|---|---|---|\n")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if "## Attribution" not in text:
        text = text.rstrip("\n") + "\n\n" + header
    start = text.index("## Attribution")
    nxt = text.find("\n## ", start + 1)
    end = len(text) if nxt == -1 else nxt
    section = text[start:end].rstrip("\n") + "\n" + row + "\n"
    path.write_text(text[:start] + section + text[end:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="GPT-2-small sized run on CUDA")
    parser.add_argument("--prompts", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-feature-nodes", type=int, default=None,
                        help="override the mode's max_feature_nodes (0: all features)")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--child", choices=["ours", "ct"], help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", help=argparse.SUPPRESS)
    parser.add_argument("--tc-dir", help=argparse.SUPPRESS)
    parser.add_argument("--ids", help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    gpu = dict(layers=12, d_model=768, d_transcoder=24576, n_tokens=64, rate=0.0005,
               batch_size=256, max_feature_nodes=8192)
    cpu = dict(layers=4, d_model=128, d_transcoder=2048, n_tokens=40, rate=0.01,
               batch_size=256, max_feature_nodes=None)
    override = args.max_feature_nodes
    for key, value in (gpu if args.gpu else cpu).items():
        setattr(args, key, value)
    if override is not None:
        args.max_feature_nodes = override or None
    torch.set_num_threads(args.threads)
    result = run(args)
    print(result)
    if not args.no_write:
        write_row(args, result, ROOT / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
