"""The output layer: one Output object (Rich, plain text, JSON, tabulate) and the renderers."""
