"""Coding review after the fact, over a FHIR Bulk Data export: read the NDJSON files, group resources by patient
without holding the export in memory, review each encounter with the same pipeline the hooks run (the
encounter-discharge service), and write the findings (docs/audit.md). Two engines share `review.review_patient`:
processes on this machine, or Apache Spark."""
