"""cpt64640_cds: a CDS Hooks 2.0 service that codes CPT 64640 (neurolytic destruction of an "other"
peripheral nerve or branch) from FHIR R4 data.

One subpackage per stage. `STAGES` lists them in the order imports may point: a module may import leaf
modules (`LEAVES`) and modules of its own or an earlier stage, never of a later one
(tests/unit/test_layout.py checks it). The hook path runs them in this order too:
protocol (contract, prefetch) → fhir → reading → facts → coding → rules → cards, wired by `pipeline`
and served by `web` under `server`.
"""

__version__ = "0.4.0"

# Shared by every stage; they import nothing of the package but each other.
LEAVES = ("errors", "config", "logs")
STAGES = (
    "knowledge",  # versioned data with sources: codes, nerves, agents, words
    "protocol",  # CDS Hooks: service declarations, request contract, prefetch completion
    "fhir",  # typed FHIR record, entry by entry
    "reading",  # clinical free text
    "facts",  # one record per nerve episode
    "coding",  # code choice and billing lines
    "rules",  # small pure functions: facts → findings
    "cards",  # findings → CDS Hooks cards
    "pipeline",  # one hook call, end to end
    "audit",  # the same review over a Bulk Data export, on this machine or Apache Spark
    "store",  # issued cards, feedback, seen JWT ids
    "security",  # client authentication
    "web",  # the Flask app
    "server",  # `serve`: gunicorn and its nginx front, the HTTP servers' own errors as OperationOutcomes
    "tools",  # replay, report, fixture FHIR server (developer tools)
    "cli",  # the `cpt64640` command
)
