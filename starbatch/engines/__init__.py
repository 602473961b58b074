"""Running the batch function over many photos or a clip: in-process, or on Ray workers."""
