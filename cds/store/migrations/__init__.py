"""Alembic migrations of the store, packaged so `calf-cds db upgrade` works when installed.

Run through `cds.store.Store.upgrade()` (script_location `cds.store:migrations`).
"""
