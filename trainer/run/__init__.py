"""One training run: the loop (Trainer), its set-up, the forward step and loss, the data it feeds, caching, saving, samples, validation and logging."""
