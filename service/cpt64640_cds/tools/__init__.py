"""Developer tools: scenario replay and its reports, and the fixture FHIR server (the `tools` extra)."""
