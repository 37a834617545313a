"""Prefetch completion, split as HAPI's CDS Hooks module splits it: templates, deadline, allowlist, client,
Bundle reading, and the completion that uses them."""
