"""StarGAN v2 training: the solver of the official code (clovaai/stargan-v2 core/solver.py)."""
