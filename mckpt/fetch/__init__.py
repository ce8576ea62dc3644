"""Downloads from the Hugging Face hub and http(s): URLs, streaming, verification, the cache."""
