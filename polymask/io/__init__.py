"""Mask files and storage: PNG and GeoTIFF masks, local paths and URLs, atomic writes."""
