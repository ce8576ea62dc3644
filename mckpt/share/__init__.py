"""`mckpt push`: sharing a run on the Hugging Face hub or an object store, with a card.

`dest` parses where to, `source` which local files (through the one resolver), `push` plans and
runs it, `card` writes README.md and manifest.json, `store_upload` and `hub_upload` send bytes,
`safetensors_export` writes a backbone as `.safetensors`. Imported only by `push`.
"""
