"""Gettext catalogs of the citizen gateway (managed with ``python -m locales.catalogs``)."""

from pathlib import Path
from typing import Final

#: Folder holding ``messages.pot`` and ``<locale>/LC_MESSAGES/messages.po``.
CATALOG_DIR: Final = Path(__file__).resolve().parent
#: The gettext domain: one catalog per locale for the whole gateway.
DOMAIN: Final = "messages"
