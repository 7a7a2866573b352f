"""Compiler: the network IR, the pass pipeline, the driver and the command line."""
