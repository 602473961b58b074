import os

# Triton reads this at import: kernels run on CPU tensors under its interpreter (DESIGN.md).
os.environ.setdefault("TRITON_INTERPRET", "1")
