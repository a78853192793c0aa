"""Words the flows share, marked for extraction and translated at render time."""

from __future__ import annotations

from typing import Final

from core.i18n import N_

GENERAL_HELP: Final = N_("Send the number of your choice. 0 goes back, 00 to the main menu. "
                         "Hotline of the Inson centres: 1140.")
ONLY_REGISTERED_PHONE: Final = N_("We answer only to the phone registered for the family. "
                                  "Call 1140 or visit your Inson centre.")
DIGITS_ONLY: Final = N_("Please send digits only.")
SESSION_EXPIRED: Final = N_("Your session has ended. Please dial *1140# again.")
INFO_HELP: Final = N_("This screen answers your request. Send 0 to go back or 00 for the main menu. "
                     "Questions: the Inson centres' hotline 1140.")
