"""Training: settings, the family-agnostic loop, a solver per family (stargan_v1/), data sets,
checkpoints, evaluation and the Ray Train launcher. The inference side never imports this package."""
