"""Storing: saving into folders, file placement, snapshots."""
