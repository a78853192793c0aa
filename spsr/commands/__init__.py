"""Subcommands of ``spsr``, one module each, discovered by ``spsr.cli``."""
