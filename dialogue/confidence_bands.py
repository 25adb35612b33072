"""Confidence bands for the NLU: act, confirm first, or re-prompt.

Rasa's FallbackClassifier knows two bands: above its threshold the top intent stands, below it
the message becomes ``nlu_fallback`` (the caller is asked again). For the intents where acting
on a wrong guess costs the caller (a self-service task or an FAQ answer they did not ask for)
a middle band is added: at or above ``threshold`` but below ``confirm_threshold`` the message
becomes ``nlu_confirm`` and the assistant asks "You'd like your balance, is that right?"
(``action_confirm_intent``). The guessed intent stays second in the ranking, where the actions
read it. Other intents (yes, no, an amount) act from ``threshold`` as before: a form's answer
is never held up by a confirmation.

All three numbers and the confirmed intents live in ``dialogue/config.yml``.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message

from dialogue.actions.common import NLU_CONFIRM


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ConfidenceBandClassifier(FallbackClassifier):
    """FallbackClassifier plus a confirmation band for ``confirm_intents``."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **FallbackClassifier.get_default_config(),
            # Confirmed intents below this confidence are confirmed before acting.
            "confirm_threshold": 0.75,
            "confirm_intents": [],
        }

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ConfidenceBandClassifier:
        if not config["threshold"] <= config["confirm_threshold"] <= 1.0:
            raise ValueError(
                "ConfidenceBandClassifier: confirm_threshold must lie between threshold and 1"
            )
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        messages = super().process(messages)
        for message in messages:
            if self._should_confirm(message):
                confirm = {
                    INTENT_NAME_KEY: NLU_CONFIRM,
                    PREDICTED_CONFIDENCE_KEY: self.component_config["confirm_threshold"],
                }
                message.data[INTENT] = confirm
                message.data.setdefault(INTENT_RANKING_KEY, []).insert(0, dict(confirm))
        return messages

    def _should_confirm(self, message: Message) -> bool:
        intent = message.data.get(INTENT) or {}
        return (
            intent.get(INTENT_NAME_KEY) in self.component_config["confirm_intents"]
            and intent.get(PREDICTED_CONFIDENCE_KEY, 1.0)
            < self.component_config["confirm_threshold"]
        )
