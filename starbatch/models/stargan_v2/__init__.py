"""StarGAN v2 (Choi et al., CVPR 2020): style-guided networks, the FAN face masks, official import."""
