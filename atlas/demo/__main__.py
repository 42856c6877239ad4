"""`python -m atlas.demo OUT_DIR [--seed N] [--steps N] [--threads N]`: corpus, then model."""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, replace


def main(argv: list[str] | None = None) -> None:
    from tqdm import tqdm

    from atlas.demo.corpus import CorpusConfig, build_corpus
    from atlas.demo.model import TinyModelConfig, train_tiny_model

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out_dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=TinyModelConfig.steps)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (results are bit-identical only for equal counts)")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(max(1, args.threads))
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    corpus = build_corpus(config=CorpusConfig(seed=args.seed))
    config = replace(TinyModelConfig(), steps=args.steps)
    with tqdm(total=config.steps, desc="training") as bar:
        def progress(step: int, total: int, loss: float) -> None:
            bar.update(step - bar.n)
            bar.set_postfix(loss=f"{loss:.3f}")
        report = train_tiny_model(corpus, args.out_dir, seed=args.seed, progress=progress,
                                  config=config)
    print(json.dumps(asdict(report), indent=2))  # noqa: T201 - this is the script's output


if __name__ == "__main__":
    main()
