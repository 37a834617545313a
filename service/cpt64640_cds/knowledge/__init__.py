"""The knowledge base: versioned data with a source for every entry (data/), its model and its loader."""
