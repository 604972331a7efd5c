"""The ledger service's REST API and admin dashboard (not built yet)."""
