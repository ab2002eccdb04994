"""Versioned schema migrations, applied in order by :mod:`store.migrate`."""
