"""DYNAP-SE2 target: its facts live in ``target.json`` and the vendor-measured bias-generator table
in ``biasgen.json`` beside this file.

Load them with ``neurocc.backends.target.load_target("dynapse2")``. Config emitters and readers
for this chip will live in this package.
"""
