"""Per-feature activation statistics: streaming top-k, histograms, samples, output tokens, cards."""
