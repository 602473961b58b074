"""Face detection, crops framed as the model was trained, tilted crops, and following a face through a clip."""
