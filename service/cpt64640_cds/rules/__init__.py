"""Rules: small pure functions from facts (plus the knowledge base, the coded episodes and the modifier
policy) to findings. One module per rule, named after its id; the rule set lists them (knowledge/data/
ruleset.json) and `catalogue` runs them in that order."""
