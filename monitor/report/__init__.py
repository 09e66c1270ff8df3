"""Reports: management's digest, built and scheduled."""
