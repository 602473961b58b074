"""Faces: the detector (RetinaFace), alignment to the model's framing, and following faces through a clip."""
