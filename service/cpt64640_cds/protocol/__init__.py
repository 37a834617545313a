"""CDS Hooks protocol: service declarations (discovery is generated from them), the request contract and
prefetch completion."""
