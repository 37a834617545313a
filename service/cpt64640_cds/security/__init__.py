"""Client authentication: the CDS client's JWT, its trusted issuers, their keys, and the replay cache."""
