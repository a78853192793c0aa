"""Data exchange: an agency sends one record or a batch; the core validates, stores and applies them."""

from __future__ import annotations

from typing import Any

from core.errors import InvalidInput
from core.exchange import MAX_BATCH, echo, json_type
from core.services import exchange as exchange_service
from registry_api.http import Call, Op, Result
from registry_api.problems import title_of
from registry_api.schema import Properties, component, obj, validate

# A batch of MAX_BATCH records: an ordinary record is about 160 bytes, one with every field at
# its longest about 400, so 8 MiB leaves room without taking a body of any size.
MAX_BATCH_BODY = 8 * 1024 * 1024

RECORD_PROPS: Properties = {
    "agency": {"type": "string", "maxLength": 40, "description": "defaults to the client's name"},
    "item": {"type": "string", "maxLength": 60}, "pinfl": {"type": "string", "maxLength": 20},
    "value": {"description": "as the catalogue's item type says"},
    # Room for the spaces the core trims from every field, as from a file's line: the date is checked there.
    "as_of": {"type": "string", "maxLength": 40}, "record_id": {"type": ["string", "integer"]},
    "key": {"type": ["string", "null"], "maxLength": 80}, "unit": {"type": ["string", "null"], "maxLength": 10},
}
RECORD = component("ExchangeRecord", obj(RECORD_PROPS, ("item", "pinfl", "value", "as_of", "record_id")))
BATCH = component("ExchangeBatch", obj({"records": {
    "type": "array", "minItems": 1, "maxItems": MAX_BATCH,
    "description": "each entry is an ExchangeRecord; one that is not is refused alone, by its index"}},
    ("records",)))
INDEXES = {"type": "array", "items": {"type": "integer"}}
INGEST_RESULT = component("IngestResult", obj({
    "accepted": {"type": "integer", "description": "new records stored, the stale and expired ones included"},
    "superseded": {"type": "integer"}, "unchanged": {"type": "integer"},
    "stale": {"type": "integer", "description": "older than the value in force: kept, not applied"},
    "expired": {"type": "integer", "description": "already past the item's validity: kept, not applied"},
    "rejected": {"type": "array", "items": obj({
        "index": {"type": "integer"}, "code": {"type": "string"}, "params": {"type": "object"},
        "title": {"type": "string", "description": "the reason in words, in the caller's language"}},
        ("index", "code", "title"))},
    "unchanged_indexes": {**INDEXES, "description": "the batch's indexes of the unchanged records"},
    "stale_indexes": {**INDEXES, "description": "the batch's indexes of the stale records"},
    "expired_indexes": {**INDEXES, "description": "the batch's indexes of the expired records"},
}, ("accepted", "superseded", "unchanged", "stale", "expired", "rejected", "unchanged_indexes", "stale_indexes",
    "expired_indexes")))


async def post_records(call: Call) -> Result:
    """Ingest one record or a batch. A batch answers with what was accepted and why any record was
    refused; a single refused record is a 422 problem. An agency writes only its own records."""
    single = "records" not in call.body
    raw: list[Any] = [call.body] if single else call.body["records"]
    own: list[Any] = []
    positions: list[int] = []
    refused: list[tuple[int, str, dict[str, Any]]] = []
    for index, record in enumerate(raw):
        try:
            own.append(_own_record(record, call.client.name))
        except InvalidInput as exc:
            refused.append((index, exc.code, exc.params))
            continue
        positions.append(index)
    result = await exchange_service.ingest(call.core, own, call.actor) if own else exchange_service.IngestResult()
    result.renumber(positions)
    result.rejected = sorted(result.rejected + refused, key=lambda r: r[0])
    if single and result.rejected:
        _, code, params = result.rejected[0]
        raise InvalidInput(code, **params)
    answer = result.to_dict()
    for entry in answer["rejected"]:  # the reason in words, as a single record's problem gives it
        entry["title"] = title_of(entry["code"], "invalid")
    return Result(answer)


def _own_record(record: Any, client: str) -> dict[str, Any]:
    """A batch entry held to the record schema, as a single record is (the body's own check),
    with its agency: the client's, whether named (trimmed, as the core trims) or not."""
    if not isinstance(record, dict):
        raise InvalidInput("exchange.not_an_object", got=json_type(record))
    validate(record, RECORD)
    agency = record.get("agency", client)
    if isinstance(agency, str):
        agency = agency.strip()
    if agency != client:
        raise InvalidInput("exchange.agency_not_yours", agency=echo(agency))
    return {**record, "agency": agency}


OPS = (
    Op("POST", "/exchange/records", post_records, "exchange.write", "Send agency records", "exchange",
       INGEST_RESULT, body={"oneOf": [RECORD, BATCH]}, own_transactions=True,
       max_body=MAX_BATCH_BODY),
)
