"""Thin CLI wrappers, one module per stage (``add_arguments`` + ``run``)."""
