"""Ingest: polled posts through store, match, score and ticket; tracking and source health."""
