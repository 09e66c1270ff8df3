"""Detection: normal form, the query language, matching, fingerprints, clusters, scoring."""
