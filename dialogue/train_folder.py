"""``python -m dialogue.train_folder ROOT MODEL_DIR``: train the design in ROOT, in a process of
its own.

A long-running server (the console testing the designers' draft) trains this way so that
TensorFlow's memory and threads leave with the process, and a training that runs too long can
be stopped by ending it. Progress lines go to standard output; the exit code is 0 when the model
is up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dialogue.training import Project, train


def main(arguments: list[str]) -> int:
    if len(arguments) != 2:
        print("usage: python -m dialogue.train_folder ROOT MODEL_DIR", file=sys.stderr)
        return 2
    root, model_dir = (Path(argument) for argument in arguments)
    try:
        train(
            Project(root=root, model_dir=model_dir), progress=lambda line: print(line, flush=True)
        )
    except (FileNotFoundError, RuntimeError) as exc:
        print(f"training failed: {exc}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
