"""Views of the reporting workflow, one module per responsibility."""
