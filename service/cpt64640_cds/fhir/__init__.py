"""Typed FHIR: the request's resources parsed entry by entry, and helpers that read FHIR elements."""
