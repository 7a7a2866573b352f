"""Backends: one target per chip, described as data; emitters and readers of chip configs."""
