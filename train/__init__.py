"""StarGAN training: data sets, losses, the loop, and the Ray Train launcher (imports the model side)."""
