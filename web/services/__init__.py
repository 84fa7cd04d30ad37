"""Service layer: operations on the models. They may flush; only views and CLI commit."""
