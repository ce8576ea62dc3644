"""The domain: the checkpoint model, Mammoth's run names, runs in a folder, metrics."""
