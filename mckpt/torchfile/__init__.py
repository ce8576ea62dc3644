"""torch's checkpoint file format: the archive reader, the allow-list unpickler, the writer."""
