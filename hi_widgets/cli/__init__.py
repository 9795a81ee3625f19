"""The ``hi-widgets`` command line: one module per subcommand, registered in one table.

Building the parser imports nothing heavy (no pandas, matplotlib or ipywidgets); a command
imports what it needs when it runs. May import every other subpackage.
"""
