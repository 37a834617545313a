"""Reading clinical free text: pure functions from words (and the knowledge base's lexicon) to findings."""
