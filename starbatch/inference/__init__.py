"""Editing model-size inputs with any family's generator: the Editor, compositing, device and precision."""
