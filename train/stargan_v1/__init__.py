"""StarGAN v1 training: the solver of the official code."""
