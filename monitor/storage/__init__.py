"""Storage: the engine, schema, migrations and what is kept or pruned."""
