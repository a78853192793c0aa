"""HTTP client for the SMS gateway (``SPSR_SMS_GATEWAY_URL``): submit a message, get its id.

The wire format is the simulator's (``ussd/sms_simulator.py``): ``POST {base}/send`` with JSON
``to``, ``text``, ``reference``, ``callback_url`` → ``{"id": …}``; receipts come back to
``callback_url`` as JSON ``id``, ``reference``, ``status``.
"""

from __future__ import annotations

import aiohttp


class HttpSmsGateway:
    def __init__(self, base_url: str, http: aiohttp.ClientSession, callback_url: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http = http
        self.callback_url = callback_url

    async def send(self, phone: str, text: str, reference: str) -> str:
        payload = {"to": phone, "text": text, "reference": reference, "callback_url": self.callback_url}
        async with self.http.post(f"{self.base_url}/send", json=payload,
                                  timeout=aiohttp.ClientTimeout(total=10)) as resp:
            if resp.status >= 300:
                raise RuntimeError(f"gateway answered {resp.status}")
            data = await resp.json()
        return str(data["id"])
