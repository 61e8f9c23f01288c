"""Example workflows of Image Lab (Help → Example Workflows in the canvas)."""
