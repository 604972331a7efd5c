"""The administrators' web dashboard: server-rendered pages (Jinja2, autoescaped) with a little JavaScript
for sorting tables and refreshing itself; every action a signed ledger event.

- ``routes``: the pages and form actions, behind the administrator's session cookie;
- ``views``: what each page shows, read from the ledger (no HTML); ``charts``: the SVG drawings' geometry (pure);
- ``text``: untrusted text shown as what it is (bidi controls made visible).
"""
