"""The parts of a call's page beyond its record: the recording (player, waveform, "play from
here" on each turn), "replay through the current bot" with its result, and "save as QA script";
each shown to the roles that may use it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from ivr.console.html import Markup, element, hidden_token, join, render, table, when
from ivr.console.queries import CallDetail
from ivr.console.recordings import RecordingShelf, RecordingUnavailable
from ivr.console.replays import ReplayJob
from ivr.console.roles import QA_TOOLS, RECORDING_LISTENERS
from ivr.console.state import session_of, state_of
from ivr.console.waveform import envelope, waveform_svg
from ivr.qa.results import CallResult
from ivr.sealed import RecordingError

PLAYER = element("script", "", src="/console/static/player.js", defer="")


@dataclass(frozen=True)
class CallExtras:
    """The sections a call's page adds for this user, and whether its turns get play buttons."""

    recording: Markup
    tools: Markup
    playable: bool
    script: Markup
    """The page's script (the player, the reload while a replay runs), when it has a use."""


async def call_extras(request: web.Request, detail: CallDetail) -> CallExtras:
    session = session_of(request)
    tools = state_of(request).tools
    role = session.user.role
    recording, playable = Markup(""), False
    if role in RECORDING_LISTENERS:
        if tools.recordings is None:
            recording = _note("Recordings are not configured on this server.")
        else:
            recording, playable = await asyncio.to_thread(_recording, tools.recordings, detail)
    sections = []
    job = None
    if role in QA_TOOLS:
        token = hidden_token(session.csrf_token)
        call_id = detail.call.call_id
        job = tools.replays.latest(call_id) if tools.replays is not None else None
        if tools.replays is None:
            sections.append(
                _note("Replays need the bot's engines: the server `ivr serve` runs has them.")
            )
        else:
            sections.append(
                render("replay.html", call_id=call_id, token=token, status=_status(job))
            )
        if tools.scripts is not None:
            sections.append(render("save_script.html", call_id=call_id, token=token))
    running = job is not None and job.running
    return CallExtras(
        _titled("Recording", recording) if recording else recording,
        _titled("Review", join(sections)) if sections else Markup(""),
        playable,
        PLAYER if playable or running else Markup(""),
    )


def _recording(shelf: RecordingShelf, detail: CallDetail) -> tuple[Markup, bool]:
    """Player and waveform (blocking: decrypts the recording once for its envelope)."""
    call = detail.call
    try:
        with shelf.open(call.recording) as reader:
            shape = envelope(reader)
            complete = reader.complete
    except RecordingUnavailable as exc:
        return _note(str(exc)), False
    except RecordingError:
        return _note(
            "The recording is damaged (it fails authentication): it cannot be played."
        ), False
    marks = [(turn.started_at - call.started_at, str(turn.turn)) for turn in detail.turns]
    cut = (
        ""
        if complete
        else _note(
            f"This recording was cut short (the bot stopped before the call ended): the "
            f"{shape.seconds:.1f} s that were written play."
        )
    )
    player = render(
        "recording.html",
        call_id=call.call_id,
        waveform=waveform_svg(shape, marks),
        truncated=cut,
        seconds=f"{shape.seconds:.1f}",
    )
    return player, True


def _status(job: ReplayJob | None) -> Markup:
    if job is None:
        return Markup("")
    started = f"Replay started {when(job.started_at)} UTC by {job.requested_by}"
    if job.running:
        return element(
            "p",
            f"{started} is running; this page reloads until it is done.",
            class_="replay running",
        )
    parts: list[object] = [element("p", f"{started}, done {when(job.finished_at)} UTC.")]
    parts.extend(replay_outcome(job.result, job.error))
    return element("div", join(parts), class_="replay done")


def replay_outcome(result: CallResult | None, error: str) -> list[Markup]:
    """A finished replay as a page shows it: its error, notes, and every difference from the
    original call turn by turn (or that there was none)."""
    parts = []
    if error:
        parts.append(element("p", f"The replay failed: {error}", class_="error"))
    if result is not None:
        parts.extend(element("p", note, class_="note") for note in result.notes)
        if result.diffs:
            rows = [
                ("" if diff.turn is None else diff.turn, diff.field, diff.original, diff.replay)
                for diff in result.diffs
            ]
            parts.append(element("p", f"{len(result.diffs)} change(s) from the original call:"))
            parts.append(table(("turn", "what", "original", "replay"), rows, class_="diff"))
        elif not error:
            parts.append(
                element(
                    "p",
                    f"No change: {len(result.turns)} turns, outcome {result.outcome}, as in the"
                    " original call.",
                    class_="replay same",
                )
            )
    return parts


def _titled(title: str, body: Markup) -> Markup:
    return join([element("h2", title), body])


def _note(text: str) -> Markup:
    return element("p", text, class_="message")
