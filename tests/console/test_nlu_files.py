"""The layout-preserving text edits of NLU examples (one added, replaced or removed), on files
shaped the ways designers keep them (comments between and after items, a block that ends the
file without a newline, ``|-``, items with more keys), on the repository's own files copied to
a temporary folder, and with several threads writing into the draft at once."""

from __future__ import annotations

import re
import shutil
import threading
from pathlib import Path

import pytest
import yaml

from ivr.console.nlu_files import (
    ExampleMissing,
    NluFileError,
    add_example,
    check_added,
    check_examples,
    examples_of,
    file_of,
    hand_written_files,
    with_example,
    with_example_replaced,
    without_example,
)
from ivr.vocabulary import example_lines
from tests.console.conftest import copy_workspace
from tests.console.inbox_calls import REPOSITORY
from tests.versions.conftest import passing_report

SHAPED = """\
# Top comment: kept.
version: "3.1"
nlu:
  # before the first item
  - intent: greet
    examples: |
      - hi
      - hello there

  # a comment between items
  - intent: deny   # trailing comment
    metadata:
      owner: designers
    examples: |-
      - no
      - nope
    # after the block
  - intent: affirm
    examples: |
      - yes
      - yeah"""


@pytest.mark.parametrize(
    ("intent", "after_line"),
    [("greet", "      - hello there\n"), ("deny", "      - nope\n"), ("affirm", "      - yeah\n")],
)
def test_one_line_lands_after_the_intents_last_example_and_nothing_else_moves(
    intent: str, after_line: str
) -> None:
    new = with_example(SHAPED, intent, "not sure about that")
    check_added(SHAPED, new, intent, "not sure about that")
    old_lines, new_lines = SHAPED.splitlines(keepends=True), new.splitlines(keepends=True)
    if intent == "affirm":
        old_lines[-1] += "\n"  # the file's last line gains the newline the new one follows
    index = new_lines.index(after_line) + 1
    assert new_lines[index] == "      - not sure about that" + ("" if intent == "affirm" else "\n")
    assert new_lines[:index] + new_lines[index + 1 :] == old_lines
    items = {item["intent"]: item for item in yaml.safe_load(new)["nlu"]}
    assert list(example_lines(items[intent]["examples"]))[-1] == "not sure about that"
    assert items["deny"]["metadata"] == {"owner": "designers"}


def test_an_intent_without_a_block_or_in_no_file_is_refused(tmp_path: Path) -> None:
    listed = "nlu:\n  - intent: greet\n    examples:\n      - hi\n"
    with pytest.raises(NluFileError, match=re.escape("not a '|' block")):
        with_example(listed, "greet", "hello")
    with pytest.raises(NluFileError, match="no '- intent: stop' item line"):
        with_example(SHAPED, "stop", "halt")
    (tmp_path / "a.yml").write_text(SHAPED)
    with pytest.raises(NluFileError, match="add the intent to one by hand"):
        file_of(tmp_path, "stop")


def test_a_result_that_is_not_the_old_data_plus_the_example_is_refused() -> None:
    good = with_example(SHAPED, "greet", "howdy")
    with pytest.raises(NluFileError, match="last one of greet"):
        check_added(SHAPED, good.replace("- howdy", "- howdy partner"), "greet", "howdy")
    with pytest.raises(NluFileError, match="beyond the one example"):
        check_added(SHAPED, good.replace("- nope", "- nah"), "greet", "howdy")
    with pytest.raises(NluFileError, match="not valid YAML"):
        check_added(SHAPED, good.replace("  - intent: affirm", "\t- intent: affirm"), "greet", "x")


def test_the_repositorys_files_keep_every_byte_but_the_new_line(tmp_path: Path) -> None:
    folder = tmp_path / "nlu"
    shutil.copytree(REPOSITORY / "data" / "nlu", folder)
    (folder / "asr").mkdir()
    (folder / "asr" / "accounts.yml").write_text("nlu:\n  - intent: greet\n    examples: |\n")
    assert folder / "asr" / "accounts.yml" not in hand_written_files(folder)
    for path in hand_written_files(folder):
        items = yaml.safe_load(path.read_text())["nlu"]
        for intent in [item["intent"] for item in items if "intent" in item]:
            old = path.read_text()
            new = with_example(old, intent, "a brand new way to say it")
            check_added(old, new, intent, "a brand new way to say it")
            lines = new.splitlines(keepends=True)
            added = [i for i, line in enumerate(lines) if "a brand new way" in line]
            assert len(added) == 1 and lines[added[0]].startswith("      - a brand new way")
            assert "".join(lines[: added[0]] + lines[added[0] + 1 :]) == old


def test_writers_in_threads_each_add_their_line_once_through_the_draft(tmp_path: Path) -> None:
    draft = copy_workspace(tmp_path).draft
    folder = draft.root / "data" / "nlu"
    before = examples_of((folder / "conversation.yml").read_text(), "greet")
    draft.save_report(passing_report(draft))
    said = [f"greeting number {n}" for n in range(8)]
    threads = [
        threading.Thread(target=add_example, args=(draft, "greet", s), kwargs={"author": "dana"})
        for s in said
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    examples = examples_of((folder / "conversation.yml").read_text(), "greet")
    assert examples[: len(before)] == before and sorted(examples[len(before) :]) == sorted(said)
    assert all(path.suffix == ".yml" for path in folder.iterdir())  # no temporary left
    assert draft.report() is None  # the test report no longer vouches for the draft
    assert draft.state()["edits"]["data/nlu/conversation.yml"]["by"] == "dana"


def test_an_example_is_replaced_or_removed_as_one_line() -> None:
    replaced = with_example_replaced(SHAPED, "deny", "nope", "no [way](answer)")
    check_examples(SHAPED, replaced, {"deny": ["no", "no [way](answer)"]}, "wrong")
    assert replaced == SHAPED.replace("      - nope\n", "      - no [way](answer)\n")
    last = with_example_replaced(SHAPED, "affirm", "yeah", "yep")
    assert last == SHAPED.removesuffix("yeah") + "yep"  # the file still ends without a newline
    removed = without_example(SHAPED, "greet", "hi")
    check_examples(SHAPED, removed, {"greet": ["hello there"]}, "wrong")
    assert removed == SHAPED.replace("      - hi\n", "")
    moved = with_example(without_example(SHAPED, "greet", "hi"), "affirm", "hi")
    check_examples(SHAPED, moved, {"greet": ["hello there"], "affirm": ["yes", "yeah", "hi"]}, "x")
    with pytest.raises(NluFileError, match="beyond the one example"):
        check_examples(SHAPED, moved, {"greet": ["hello there"]}, "wrong")  # affirm changed too
    with pytest.raises(ExampleMissing, match="'nah' is no longer an example of deny"):
        without_example(SHAPED, "deny", "nah")
    with pytest.raises(NluFileError, match="last example of greet"):
        without_example(without_example(SHAPED, "greet", "hi"), "greet", "hello there")
