"""Checkpoints: the self-describing `.safetensors` format, the training state beside it,
rebuilding a generator from a file alone, and what a file holds."""
