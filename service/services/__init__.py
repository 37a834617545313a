"""CDS services: one module per hook, each a declaration plus the choice of orders it focuses on."""
