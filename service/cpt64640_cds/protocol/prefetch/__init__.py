"""Prefetch completion, split as HAPI's CDS Hooks module splits it: templates, deadline, allowlist, client,
Bundle reading, and the completion that uses them; with the outbound sockets cut at a deadline (also used for
JWKS URLs) and the worker's shared fetch threads."""
