"""Fixes to what Rasa 3.6 costs per turn and per start, applied wherever Rasa runs (in process,
``rasa run``, the understanding benchmark): :func:`install`.

- Rasa checks each custom action's answer against its response schema with
  ``jsonschema.validate``, which first checks the schema itself against the JSON Schema
  metaschema: on every action call, the same schema. Profiled with py-spy on a ``rasa run``
  serving eight concurrent conversations, that metaschema check was a quarter of the server's
  time. The answer is still checked, with the same errors; the schema is checked once.
- Rasa loads each TensorFlow model (DIET, TED) by training it for one step, to create its
  variables and the optimiser's before restoring them, and that step is traced into a graph
  with its gradients: profiled with py-spy, 75% of loading the assistant (about 55 of 70 s on
  this machine, for every bot start). A model that only predicts needs its own variables, not
  the optimiser's: one eager pass of its loss creates them all, the restore is checked to have
  set every one, and the predictions are Rasa's own (a test compares them).
- The prediction step is then traced into a graph, and TensorFlow's AutoGraph first rewrites its
  Python (DIET's, TED's and every layer's) into graph code: half of what was left of the load.
  The step branches and loops on Python values only (settings, shapes), which the trace follows
  as they are; a branch on a tensor would fail the trace loudly rather than change a prediction.
  So it is traced as written.
- Every policy rebuilds the states of the whole conversation at every prediction, so a turn cost
  more the longer the call: for the conversations the in-process store keeps,
  :mod:`dialogue.past_states` carries the replay on instead.
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


def _load_to_predict(
    cls: Any,
    model_file_name: str,
    model_data_example: Any,
    predict_data_example: Any = None,
    finetune_mode: bool = False,
    *args: Any,
    **kwargs: Any,
) -> Any:
    """``RasaModel.load``: its variables made by one eager pass of its loss, not a traced
    training step, and its prediction step traced without AutoGraph; a model loaded to be
    fine-tuned needs its optimiser, and gets Rasa's load."""
    if finetune_mode:
        return _rasa_load(
            cls, model_file_name, model_data_example, predict_data_example, True, *args, **kwargs
        )
    import tensorflow as tf
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator

    model = cls(*args, **kwargs)
    example = next(iter(RasaBatchDataGenerator(model_data_example, batch_size=1)))[0]
    model._training = True  # every layer a training step would build, losses included
    model.batch_loss(example)
    model._training = False
    restored = model.load_weights(model_file_name)
    restored.expect_partial()  # the optimiser's saved state: not needed to predict
    restored.assert_existing_objects_matched()  # every variable of the model was restored
    model.predict_step = tf.autograph.experimental.do_not_convert(model.predict_step)
    if predict_data_example:
        model.run_inference(predict_data_example)  # traces the prediction graph now
    return model


_rasa_load: Any = None
"""Rasa's own ``RasaModel.load`` (its function), kept for fine-tuning once replaced."""


def check_action_answers_once_compiled() -> None:
    """Install the compiled check in this process's Rasa (idempotent)."""
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result


def load_models_to_predict() -> None:
    """Install the prediction-only load in this process's Rasa (idempotent)."""
    global _rasa_load
    from rasa.utils.tensorflow.models import RasaModel

    if _rasa_load is None:
        _rasa_load = RasaModel.load.__func__
    RasaModel.load = classmethod(_load_to_predict)


def install() -> None:
    """Every fix here, in this process's Rasa (idempotent); before it loads a model."""
    from dialogue import past_states

    check_action_answers_once_compiled()
    load_models_to_predict()
    past_states.install()
