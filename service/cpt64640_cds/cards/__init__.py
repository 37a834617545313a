"""Cards: findings rendered as CDS Hooks 2.0 cards with FHIR actions (the contract of docs/cards.md)."""
