"""Training: losses, the shared loop, checkpoints, distributed helpers."""
