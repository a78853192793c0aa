"""The registry's REST API for agencies, the hotline, operators and auditors (``/v1``)."""
