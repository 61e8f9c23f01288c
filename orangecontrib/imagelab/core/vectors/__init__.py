"""Vectors: embedding pipeline and its cache, layout, labels, issues, classifier."""
