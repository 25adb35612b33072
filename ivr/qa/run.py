"""One QA run: a folder of its own, the bot's engines, a bridge, and calls made one by one.

Each run writes into ``<qa.reports_dir>/<kind>-<timestamp>/`` (owner-only): the call records and
stereo recordings the bot made during the run (never mixed into the production records), a demo
bank of its own (scripts move money and block cards), ``results.json`` and ``report.html``. The
recordings are sealed like production ones, with ``call.recording_key_file`` or, when none is
configured, a key of the run's own (``recording.keys`` in the folder) so the report has audio.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tqdm import tqdm

from ivr.config import Config
from ivr.logs import get_logger
from ivr.qa.compare import ResponseCatalog
from ivr.qa.evaluate import evaluate, format_scores
from ivr.qa.lines import BRIDGES, QaBridge
from ivr.qa.observe import ObservedRecords, observed
from ivr.qa.replay import find_original, run_replay
from ivr.qa.report import RunReport, scrub, write_html, write_json
from ivr.qa.results import CallResult, RunKind
from ivr.qa.script import Script
from ivr.qa.simulate import run_script
from ivr.qa.voice import CallerVoice
from ivr.recording_keys import Keyring, create_key_file, read_keyring
from ivr.records import CallRecordStore
from ivr.services import Services, start_services
from logfields import fields
from storage.private import private_dir

log = get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RunFolder:
    """Where one run keeps everything it produced."""

    root: Path

    @property
    def records_db(self) -> str:
        return f"sqlite:///{self.root / 'calls.db'}"

    @property
    def recordings_dir(self) -> str:
        return str(self.root / "recordings")

    @property
    def key_file(self) -> Path:
        """The run's own recording key, made when no ``call.recording_key_file`` is set."""
        return self.root / "recording.keys"

    @property
    def results(self) -> Path:
        return self.root / "results.json"

    @property
    def report(self) -> Path:
        return self.root / "report.html"


def new_run_folder(reports_dir: str | Path, kind: str) -> RunFolder:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    root = Path(reports_dir) / f"{kind}-{stamp}"
    suffix = 1
    while root.exists():
        suffix += 1
        root = Path(reports_dir) / f"{kind}-{stamp}-{suffix}"
    return RunFolder(private_dir(root))


def run_keyring(configured: Keyring | None, folder: RunFolder) -> Keyring:
    """The configured recording keys, else the run's own (made once, owner-only in the folder)."""
    if configured is not None:
        return configured
    if folder.key_file.exists():
        return read_keyring(folder.key_file)
    return create_key_file(folder.key_file)


def run_config(config: Config, folder: RunFolder) -> Config:
    """The configuration with the run's own demo bank: scripts and replays move money and block
    cards, never on the bank the hotline serves."""
    bank = dataclasses.replace(config.bank, database=f"sqlite:///{folder.root / 'bank.db'}")
    return dataclasses.replace(config, bank=bank)


async def start_run_services(config: Config, folder: RunFolder) -> Services:
    """The bot's engines and assistant for a run, over the run's own demo bank."""
    return await start_services(run_config(config, folder))


async def run_calls(
    services: Services,
    folder: RunFolder,
    bridge_name: str,
    fast: bool,
    items: Sequence[T],
    one: Callable[[T, QaBridge, ObservedRecords], Awaitable[CallResult]],
    keyring: Keyring,
    *,
    progress: bool = True,
) -> list[CallResult]:
    """Make one call per item over a new bridge, with a progress bar; results in item order."""
    qa, records = observed(services, folder.records_db, folder.recordings_dir, keyring)
    bridge = BRIDGES[bridge_name](qa, records, fast)
    results: list[CallResult] = []
    await bridge.start()
    try:
        for item in tqdm(items, desc=bridge_name, unit="call", disable=not progress):
            result = await one(item, bridge, records)
            log.info(
                "qa.call",
                extra=fields(name=result.name, passed=result.passed, outcome=result.outcome),
            )
            results.append(result)
    finally:
        await bridge.close()
        records.close()
    return results


async def simulate_run(
    config: Config,
    scripts: list[Script],
    bridge_name: str,
    fast: bool,
    voice: CallerVoice | None,
    out: str | None,
    *,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    services: Services | None = None,
) -> bool:
    """``ivr simulate``: every script once, then the reports; True when all passed.

    ``services`` (already started, e.g. by tests) are used instead of the run's own.
    """
    folder = (
        RunFolder(private_dir(out)) if out else new_run_folder(config.qa.reports_dir, "simulate")
    )
    own = services is None
    services = services or await start_run_services(config, folder)
    keyring = run_keyring(services.recording_keys, folder)
    try:
        results = await run_calls(
            services,
            folder,
            bridge_name,
            fast,
            scripts,
            lambda script, bridge, records: run_script(
                script,
                bridge,
                records,
                voice=voice,
                turn_timeout_s=config.qa.turn_timeout_s,
            ),
            keyring,
            progress=progress,
        )
    finally:
        if own:
            await services.close()
    secrets = tuple(secret for s in scripts for secret in s.secrets)
    meta = {"bridge": bridge_name, "fast": fast and bridge_name == "inprocess"}
    if voice is not None:
        meta["voice"] = voice.describe()
    return finish_run(folder, "simulate", results, meta, secrets, echo, keyring)


def finish_run(
    folder: RunFolder,
    kind: RunKind,
    results: list[CallResult],
    meta: dict[str, Any],
    secrets: tuple[str, ...],
    echo: Callable[[str], None],
    keyring: Keyring,
) -> bool:
    """Score the run, write results.json and report.html (its audio opened with ``keyring``),
    print a summary; True if all passed."""
    evaluation = evaluate(results)
    report = RunReport(kind, results, evaluation, meta, secrets)
    write_json(folder.results, report)
    write_html(folder.report, report, keyring)
    for line in result_lines(results, secrets):
        echo(line)
    echo(format_scores(evaluation))
    echo(f"report: {folder.report}")
    return all(r.passed for r in results)


def result_lines(results: list[CallResult], secrets: tuple[str, ...]) -> list[str]:
    """Each call's verdict, then its failed checks, differences and error, PINs scrubbed."""
    lines = []
    for result in results:
        verdict = "PASS" if result.passed else "FAIL"
        lines.append(f"{verdict} {result.name}: {result.outcome} in {result.wall_s:.0f} s")
        lines += [
            f"  {check.what}: expected {check.expected}, got {check.got}"
            for check in result.checks
            if not check.ok
        ]
        lines += [
            f"  turn {diff.turn} {diff.field}: {diff.original!r} -> {diff.replay!r}"
            for diff in result.diffs
        ]
        if result.error:
            lines.append(f"  error: {result.error}")
    return [scrub(line, secrets) for line in lines]


async def replay_run(
    config: Config,
    recordings: list[Path],
    keys: list[str],
    pin: str | None,
    fast: bool,
    out: str | None,
    *,
    progress: bool = True,
    echo: Callable[[str], None] = print,
    services: Services | None = None,
) -> bool:
    """``ivr replay``: every recording through the current bot; True when nothing changed."""
    folder = RunFolder(private_dir(out)) if out else new_run_folder(config.qa.reports_dir, "replay")
    store = CallRecordStore(config.call.records_db)
    try:
        originals = {path: find_original(store, path) for path in recordings}
    finally:
        store.close()
    catalog = ResponseCatalog.from_domain(Path(config.dialogue.project_dir) / "dialogue/domain.yml")
    own = services is None
    services = services or await start_run_services(config, folder)
    keyring = run_keyring(services.recording_keys, folder)
    try:
        results = await run_calls(
            services,
            folder,
            "inprocess",
            fast,
            recordings,
            lambda path, bridge, records: run_replay(
                path,
                originals[path],
                bridge,
                records,
                catalog,
                keys=keys,
                pin=pin,
                turn_timeout_s=config.qa.turn_timeout_s,
            ),
            keyring,
            progress=progress,
        )
    finally:
        if own:
            await services.close()
    secrets = (pin,) if pin else ()
    return finish_run(folder, "replay", results, {"fast": fast}, secrets, echo, keyring)
