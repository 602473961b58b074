"""Model families, their registry and the model-file format; the bundled demo model lives here too.

Nothing heavy at import: `starbatch --help` must not load torch.
"""
