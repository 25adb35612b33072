"""A fix to what a Rasa 3.6 turn costs, applied wherever Rasa runs (in process, ``rasa run``).

Rasa checks each custom action's answer against its response schema with
``jsonschema.validate``, which first checks the schema itself against the JSON Schema
metaschema: on every action call, the same schema. Profiled with py-spy on a ``rasa run``
serving eight concurrent conversations, that metaschema check was a quarter of the server's
time. The answer is still checked, with the same errors; the schema is checked once.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def _answer_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """``RemoteAction._validate_action_result``, with the schema checked once."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_answer_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response "
        f"from the Action endpoint is valid. For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def check_action_answers_once_compiled() -> None:
    """Install the compiled check in this process's Rasa (idempotent)."""
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result
