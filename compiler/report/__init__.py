"""The placement and resource report of a compile: ``build`` (report.json at compile time),
``console`` (everything known about a compiled folder, as data and terminal tables), ``html``
(the self-contained page) and ``energy`` (activity and energy estimates)."""
