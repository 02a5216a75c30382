"""Renderers: results in, text for people, JSON for machines, workflow commands for GitHub."""
