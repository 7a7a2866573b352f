"""DYNAP-SE1 target: its facts live in ``target.json`` beside this file.

Load them with ``neurocc.backends.target.load_target("dynapse1")``. Config emitters and readers
for this chip will live in this package.
"""
