"""Facts: one normalised record per nerve episode (one nerve, one side, one date of service)."""
