"""NLU pipeline component: a short answer to the bot's question wins over the classifier's guess.

The dialogue client sends the hints of the bot's last message as message metadata
(``short_answers.EXPECTED_KEY``). After the intent classifier and before the fallback, a short
transcript that is, or sounds like, an expected answer (``short_answers.match_answer``) gets
that answer's intent; every other message keeps the classifier's result. Nothing is learned.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message

from dialogue.short_answers import EXPECTED_KEY, learn_forms, match_answer


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class ExpectedAnswerClassifier(GraphComponent):
    """Gives a short transcript the intent of the expected answer it sounds like."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> ExpectedAnswerClassifier:
        learn_forms()
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            metadata = message.get("metadata") or {}
            hints = metadata.get(EXPECTED_KEY) if isinstance(metadata, dict) else None
            if isinstance(hints, list) and hints:
                self._answer(message, [str(h) for h in hints])
        return messages

    @staticmethod
    def _answer(message: Message, hints: list[str]) -> None:
        answer = match_answer(str(message.get("text") or ""), hints)
        if answer is None:
            return
        ranking = [
            dict(item)
            for item in message.get("intent_ranking") or []
            if item.get("name") != answer.intent
        ]
        previous = next(
            (
                float(item.get("confidence") or 0.0)
                for item in message.get("intent_ranking") or []
                if item.get("name") == answer.intent
            ),
            0.0,
        )
        confidence = max(previous, answer.confidence)
        rest = sum(float(item.get("confidence") or 0.0) for item in ranking)
        for item in ranking:
            share = float(item.get("confidence") or 0.0) / rest if rest else 0.0
            item["confidence"] = share * (1.0 - confidence)
        chosen = {"name": answer.intent, "confidence": confidence}
        message.set("intent", chosen, add_to_output=True)
        message.set("intent_ranking", [chosen, *ranking], add_to_output=True)
