"""Running Mammoth: finding the checkout, save (train with checkpoints) and load (resume)."""
