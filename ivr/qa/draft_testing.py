"""Testing the designers' draft before it may be published, from the console or ``ivr versions
test``: four steps, each recorded in a :class:`~ivr.versions.testing.DraftTest`.

1. validate: ``rasa data validate`` on the draft's domain, config and data, in a process of its
   own; errors fail the test, warnings are shown.
2. train: only when the draft's model is older than its files (a draft that changes only the FAQ
   knowledge keeps the model it was made with), in a process of its own
   (``dialogue.train_folder``): the server keeps no TensorFlow memory, and a test stopped at its
   time limit ends the training with it.
3. qa: the QA scripts (``design.test_scripts``, default every script in ``qa.scripts_dir``)
   called against the draft as ``ivr simulate`` calls them: the in-process line on a virtual
   clock, a demo bank of the test's own. Any failed script fails the test.
4. replays: the ``design.test_replays`` most recent finished, recorded calls replayed against the
   draft and compared turn by turn with their records, as a call page's replay does. A
   difference does not fail the test: a draft that changes what the bot says is meant to differ,
   so every difference is shown for the publisher to judge.

Steps 3 and 4 run on the draft's settings (``ivr.versions.live.design_settings``) with
``design.follow_published`` off, their records, recordings and bank in a temporary folder that is
removed afterwards (the report keeps the results). The report is kept as the draft's only when
the draft did not change while the test ran: its fingerprint is taken first.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import dialogue
from dialogue.training import validate_command
from ivr.config import Config
from ivr.console.recordings import RecordingShelf, RecordingUnavailable
from ivr.logs import get_logger
from ivr.qa.compare import ResponseCatalog
from ivr.qa.console_replay import fresh_assistant
from ivr.qa.evaluate import evaluate, format_scores
from ivr.qa.lines import QaBridge
from ivr.qa.observe import ObservedRecords
from ivr.qa.replay import Original, run_replay
from ivr.qa.report import scrubbed
from ivr.qa.results import CallResult
from ivr.qa.run import RunFolder, result_lines, run_calls, run_config, run_keyring
from ivr.qa.script import Script, ScriptError, load_scripts
from ivr.qa.simulate import run_script
from ivr.qa.voice import configured_voice
from ivr.recording_keys import Keyring
from ivr.records import CallRecordStore
from ivr.services import Services, start_services
from ivr.versions.draft import Draft
from ivr.versions.live import design_settings
from ivr.versions.testing import DraftTest, Step
from logfields import fields
from storage.private import private_dir

log = get_logger(__name__)

Engines = Callable[[Config], contextlib.AbstractAsyncContextManager[Services]]
"""The bot's engines with an assistant of the given (the draft's) configuration."""
READ_CHUNK = 4096


def beside(services: Services) -> Engines:
    """A running bot's engines (shared, they hold no customer data) with a fresh assistant of
    the draft: the console's test costs one assistant load and no engine load."""

    @contextlib.asynccontextmanager
    async def engines(own: Config) -> AsyncIterator[Services]:
        async with fresh_assistant(own) as assistant:
            yield dataclasses.replace(services, config=own, dialogue=assistant)

    return engines


@contextlib.asynccontextmanager
async def own_engines(own: Config) -> AsyncIterator[Services]:
    """Engines and an assistant of their own (``ivr versions test``, no server running)."""
    services = await start_services(own)
    try:
        yield services
    finally:
        await services.close()


async def draft_test_for_console(services: Services, draft: Draft, run: DraftTest) -> DraftTest:
    """The console's test of the draft, on the running bot's engines."""
    config = services.config
    return await run_draft_test(config, draft, run, beside(services), config.design.test_timeout_s)


async def run_draft_test(
    config: Config, draft: Draft, run: DraftTest, engines: Engines, timeout_s: float
) -> DraftTest:
    """Run every step into ``run``, stopped after ``timeout_s``; keep the report as the draft's
    when the draft did not change meanwhile. Never raises for a failed or stopped test."""
    run.fingerprint = await asyncio.to_thread(draft.fingerprint)
    try:
        passed = await asyncio.wait_for(_steps(config, draft, run, engines), timeout_s)
    except asyncio.TimeoutError:
        passed = False
        run.error = f"stopped after {timeout_s:g} s (design.test_timeout_s)"
    except Exception as exc:
        log.exception("design.test_failed")
        passed = False
        run.error = f"{type(exc).__name__}: {exc}"
    for step in run.steps:
        if step.status == "running":
            step.end("failed", run.error or "did not finish")
        elif step.status == "waiting":
            step.end("skipped", "an earlier step failed")
    run.passed = passed
    run.summary = _summary(run)
    await asyncio.to_thread(finish_draft_test, draft, run)
    log.info(
        "design.test",
        extra=fields(by=run.by, passed=passed, kept=run.kept, summary=run.summary),
    )
    return run


async def _steps(config: Config, draft: Draft, run: DraftTest, engines: Engines) -> bool:
    if not await _validate(draft, run.step("validate")):
        return False
    if not await _train(draft, run.step("train")):
        return False
    with tempfile.TemporaryDirectory(prefix="design-test-") as temporary:
        folder = RunFolder(private_dir(Path(temporary) / "run"))
        async with engines(draft_config(config, draft.root, folder)) as services:
            keyring = run_keyring(services.recording_keys, folder)
            passed = await _qa(config, services, folder, keyring, run.step("qa"))
            await _replays(config, services, folder, keyring, run.step("replays"))
    return passed


def draft_config(config: Config, root: Path, folder: RunFolder) -> Config:
    """``config`` running the design in ``root`` (not the published version) on the run's own
    demo bank."""
    dialogue_settings, bank = design_settings(config.dialogue, config.bank, root)
    design = dataclasses.replace(config.design, follow_published=False)
    return run_config(
        dataclasses.replace(config, dialogue=dialogue_settings, bank=bank, design=design), folder
    )


async def _validate(draft: Draft, step: Step) -> bool:
    step.status = "running"
    code = await run_process(validate_command(draft.project()), step)
    warned = any("UserWarning" in line for line in step.lines)
    noted = "; its warnings are in the output" if warned else ""
    if code != 0:
        step.end("failed", "rasa data validate found errors" + noted)
        return False
    step.end("passed", "no errors" + noted)
    return True


async def _train(draft: Draft, step: Step) -> bool:
    if not await asyncio.to_thread(draft.needs_training):
        step.end("skipped", "the model is up to date: the draft changes no training input")
        return True
    step.status = "running"
    project = draft.project()
    code = await run_process(
        [sys.executable, "-m", "dialogue.train_folder", str(project.root), str(project.model_dir)],
        step,
    )
    if code != 0:
        step.end("failed", f"training failed (exit code {code})")
        return False
    step.end("passed", "trained")
    return True


async def _qa(
    config: Config, services: Services, folder: RunFolder, keyring: Keyring, step: Step
) -> bool:
    step.status = "running"
    named = config.design.test_scripts or [config.qa.scripts_dir]
    try:
        scripts = await asyncio.to_thread(load_scripts, list(named), configured_voice(config.qa))
    except ScriptError as exc:
        step.end("failed", str(exc))
        return False
    step.say(f"{len(scripts)} script(s): {', '.join(script.name for script in scripts)}")
    secrets = tuple(secret for script in scripts for secret in script.secrets)

    async def call(script: Script, bridge: QaBridge, records: ObservedRecords) -> CallResult:
        result = await run_script(script, bridge, records, turn_timeout_s=config.qa.turn_timeout_s)
        _said(step, result, secrets)
        return result

    results = await run_calls(
        services, folder, "inprocess", True, scripts, call, keyring, progress=False
    )
    step.results = scrubbed([result.as_dict() for result in results], secrets)
    for line in format_scores(evaluate(results)).splitlines():
        step.say(line)
    failed = sum(not result.passed for result in results)
    if failed:
        step.end("failed", f"{failed} of {len(results)} script(s) failed")
        return False
    step.end("passed", f"{len(results)} script(s) passed")
    return True


async def _replays(
    config: Config, services: Services, folder: RunFolder, keyring: Keyring, step: Step
) -> None:
    wanted = config.design.test_replays
    if wanted == 0:
        step.end("skipped", "design.test_replays is 0")
        return
    step.status = "running"
    originals = await asyncio.to_thread(recent_recorded_calls, config, services, wanted, step)
    if not originals:
        step.end("skipped", "no finished call with a recording to replay")
        return
    catalog = ResponseCatalog.from_domain(
        Path(services.config.dialogue.project_dir) / "dialogue/domain.yml"
    )

    async def call(path: Path, bridge: QaBridge, records: ObservedRecords) -> CallResult:
        result = await run_replay(
            path,
            originals[path],
            bridge,
            records,
            catalog,
            turn_timeout_s=config.qa.turn_timeout_s,
        )
        _said(step, result, ())
        return result

    results = await run_calls(
        services, folder, "inprocess", True, list(originals), call, keyring, progress=False
    )
    step.results = [result.as_dict() for result in results]
    differ = sum(not result.passed for result in results)
    if differ:
        step.end("differs", f"{differ} of {len(results)} call(s) went differently: see below")
    else:
        step.end("passed", f"{len(results)} call(s) went as recorded")


def recent_recorded_calls(
    config: Config, services: Services, limit: int, step: Step
) -> dict[Path, Original]:
    """The ``limit`` most recent finished calls whose recording is still there, by recording
    (blocking: reads the call records)."""
    shelf = RecordingShelf(Path(config.call.recordings_dir), services.recording_keys)
    store = CallRecordStore(config.call.records_db)
    found: dict[Path, Original] = {}
    try:
        for row in store.recorded_calls(limit):
            try:
                path = shelf.locate(row["recording"])
            except RecordingUnavailable as exc:
                step.say(f"{row['call_id']}: not replayed: {exc}")
                continue
            turns = [dict(turn) for turn in store.turns(row["call_id"])]
            found[path] = Original(dict(row), turns)
    finally:
        store.close()
    return found


async def run_process(command: list[str], step: Step) -> int:
    """Run ``command``, its output (both streams) fed into ``step``; its exit code. Ended with
    the test if the test is stopped."""
    dialogue.quiet_rasa_environment()  # the child inherits it: no telemetry, fewer banners
    environment = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _code_path()}
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        env=environment,
    )
    try:
        assert process.stdout is not None
        while chunk := await process.stdout.read(READ_CHUNK):
            step.feed(chunk.decode("utf-8", "replace"))
        return await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def _code_path() -> str:
    """PYTHONPATH for a child process: this code first, so it runs what this process runs."""
    here = str(Path(dialogue.__file__).resolve().parents[1])
    return os.pathsep.join([here, *filter(None, [os.environ.get("PYTHONPATH")])])


def _said(step: Step, result: CallResult, secrets: tuple[str, ...]) -> None:
    for line in result_lines([result], secrets):
        step.say(line)


def _summary(run: DraftTest) -> str:
    verdict = "passed" if run.passed else "failed"
    parts = [f"{step.name} {step.status}" for step in run.steps]
    return f"{verdict}: " + ", ".join(parts) + (f" ({run.error})" if run.error else "")


def finish_draft_test(draft: Draft, run: DraftTest) -> None:
    """Done now; the report is kept as the draft's only if the draft is what was tested. The
    run is marked finished last: the page (and a publish) that sees it finished finds its
    report saved."""
    finished_at = time.time()
    if draft.fingerprint() == run.fingerprint:
        draft.save_report({**run.report(), "finished_at": finished_at, "kept": True})
        run.kept = True
    run.finished_at = finished_at
