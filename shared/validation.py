"""Validation at a service's edge: marshmallow errors become the API's `validation_error`."""
from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError

from .aggregate import DomainError


def validated(schema: type[Schema], data: Any) -> dict[str, Any]:
    """`data` loaded by `schema`; a DomainError("validation_error") naming the fields if not."""
    try:
        return schema().load(data if data is not None else {})
    except ValidationError as error:
        messages = error.messages if isinstance(error.messages, dict) else {"_schema": error.messages}
        raise DomainError("validation_error", "the request is invalid", messages) from None
