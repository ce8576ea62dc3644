"""Bytes in and out: byte sources (a local file, an HTTP range reader), the HTTP client, atomic writes."""
