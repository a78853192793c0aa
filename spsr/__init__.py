"""The spsr application: the wiring point and the ``spsr`` command."""
