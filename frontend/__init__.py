"""Frontends: saved models (NIR/HDF5, the neurocc text language) -> IR."""
