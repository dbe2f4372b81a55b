"""Who may do what: login configuration, model ownership and per-type upload limits.

Modules (the public surface is what each module's docstring names):

- `policy`: Who may do what: optional OIDC login, model ownership and per-type upload limits.
"""
