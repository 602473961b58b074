"""starbatch: batch-edit facial attributes in photo folders and videos with StarGAN."""

__version__ = "0.1.0"
