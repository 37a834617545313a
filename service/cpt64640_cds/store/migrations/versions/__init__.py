"""The revisions, oldest first: each file names its `revision` and the `down_revision` it follows."""
