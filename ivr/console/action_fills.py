"""Which placeholders of a response the custom actions fill, read from their source.

A response's ``{placeholder}`` is filled from a slot of the same name or by the action that says
it: ``dispatcher.utter_message(response="utter_balance", amount=...)``. The Prompts page's ear
check warns only about a placeholder that neither fills, so a designer sees the typos and not
every amount an action computes. The actions are read with ``ast``, never imported; a call that
passes ``**fields`` may fill any placeholder of its response.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path

ANY = "*"
"""Stands for every placeholder: the call passes ``**fields``."""
NOT_PLACEHOLDERS = frozenset({"response", "template", "text", "buttons", "json_message", "image"})


def action_fills(files: Iterable[Path]) -> Mapping[str, frozenset[str]]:
    """Per response name, the placeholders the actions in ``files`` fill when they say it."""
    fills: dict[str, set[str]] = {}
    for file in files:
        tree = ast.parse(file.read_text("utf-8"), filename=str(file))
        constants = _string_constants(tree)
        for call in ast.walk(tree):
            response = _response_said(call, constants)
            if response is not None and isinstance(call, ast.Call):
                fills.setdefault(response, set()).update(_names(call))
    return {response: frozenset(names) for response, names in fills.items()}


def filled(name: str, known: Collection[str]) -> bool:
    """Whether ``{name}`` is among the ``known`` placeholders (all of them with ``ANY``)."""
    return ANY in known or name in known


def _string_constants(tree: ast.Module) -> dict[str, str]:
    """The module's ``NAME = "text"`` assignments (``FEES = "utter_fees"``)."""
    return {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }


def _response_said(node: ast.AST, constants: Mapping[str, str]) -> str | None:
    """The response an ``utter_message(response=...)`` call names: a string, or a module
    constant holding one; None for anything else."""
    if not (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "utter_message"
    ):
        return None
    for keyword in node.keywords:
        value = keyword.value
        if keyword.arg != "response":
            continue
        if isinstance(value, ast.Constant):
            return str(value.value)
        if isinstance(value, ast.Name):
            return constants.get(value.id)
    return None


def _names(call: ast.Call) -> Iterable[str]:
    for keyword in call.keywords:
        if keyword.arg is None:
            yield ANY
        elif keyword.arg not in NOT_PLACEHOLDERS:
            yield keyword.arg
