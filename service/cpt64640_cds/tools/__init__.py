"""Developer tools (the `tools` extra): scenario replay and its reports, the fixture FHIR server, and what the
tests and benchmarks share - cards read back (`cards`), hook requests shaped as EHRs send them
(`hook_requests`), the service and fixture FHIR server as loopback processes (`processes`), and hypothesis
strategies for fuzzing (`fuzz`, which needs the dev extra's hypothesis)."""
