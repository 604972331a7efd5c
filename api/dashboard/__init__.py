"""The administrators' web dashboard: server-rendered pages (Jinja2, autoescaped) with a little JavaScript
for sorting tables and refreshing itself; every action a signed ledger event."""
