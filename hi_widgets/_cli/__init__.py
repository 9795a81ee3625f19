"""The ``hi-widgets`` subcommands that live in the package itself, one module each.

:mod:`hi_widgets.cli` builds the parser from them; their argument definitions import
nothing heavy, and a command imports what it needs when it runs.
"""
