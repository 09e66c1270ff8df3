"""Delivery: notices routed, grouped and queued in the outbox, signed links, charts."""
