"""StarGAN v1 (Choi et al. 2018): one generator conditioned on label vectors, D with a domain classifier."""
