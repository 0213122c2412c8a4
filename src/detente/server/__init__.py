"""The multi-party deconfliction server: a store, detection on every write, and an HTTP API.

Layers, each importing only those before it: `schema` and `db` (tables and transactions),
`records` (what is stored, as documents), `plans`, `hotline` and `parties` (the operations),
`api` (FastAPI routes) and `app` (the application and its background work).
"""
