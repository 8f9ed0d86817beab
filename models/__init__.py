"""Models built on autograd_np's public API (no hand-written gradients)."""
