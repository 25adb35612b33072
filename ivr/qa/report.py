"""Reports of a QA run: results.json for machines, one self-contained report.html for people.

The page carries everything inline (styles, each call's caller and bot channels as WAV data
URIs, an SVG waveform), so it can be attached to a ticket or opened from CI artifacts. It shows,
per call, the verdict, the failed checks or the differences from the original call, and every
turn with transcript, intent, bot reply and timings. Secrets never reach it: results are masked
when built, and ``scrub`` removes the run's PINs from any text as a last line of defence.
"""

from __future__ import annotations

import base64
import html
import io
import json
import wave
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from ivr.qa.evaluate import Evaluation, Scores
from ivr.qa.results import CallResult, RunKind
from ivr.recording_keys import Keyring
from ivr.sealed import RecordingError, open_recording

MAX_AUDIO_S = 240
"""Audio embedded per call; longer calls are cut (the recording file has everything)."""
WAVE_POINTS = 480


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Replace every secret (PIN) in ``text`` with asterisks."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "*" * len(secret))
    return text


@dataclass(frozen=True)
class RunReport:
    """Everything both reports of a run show."""

    kind: RunKind
    results: list[CallResult]
    evaluation: Evaluation
    meta: dict[str, Any]
    """Run settings shown in the header (bridge, clock, caller voice)."""
    secrets: tuple[str, ...]
    """PINs the run used: scrubbed from every text."""


def write_json(path: Path, run: RunReport) -> None:
    data = {
        "kind": run.kind,
        **run.meta,
        "scores": run.evaluation.as_dict(),
        "calls": [r.as_dict() for r in run.results],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(scrubbed(data, run.secrets), indent=2, default=str)
    path.write_text(text + "\n", "utf-8")


def scrubbed(value: Any, secrets: tuple[str, ...]) -> Any:
    """``value`` with every text in it scrubbed (numbers are left alone: they hold no PIN)."""
    if isinstance(value, str):
        return scrub(value, secrets)
    if isinstance(value, dict):
        return {k: scrubbed(v, secrets) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrubbed(v, secrets) for v in value]
    return value


def write_html(path: Path, run: RunReport, keyring: Keyring | None) -> None:
    """The page; ``keyring`` opens the run's sealed recordings for its audio players."""
    calls = "\n".join(
        _call(i, r, run.evaluation.per_call.get(f"{i + 1:02d} {r.name}"), run.secrets, keyring)
        for i, r in enumerate(run.results)
    )
    passed = sum(1 for r in run.results if r.passed)
    page = _PAGE.substitute(
        title=html.escape(f"ivr {run.kind}: {passed}/{len(run.results)} calls passed"),
        meta=_e(scrub(", ".join(f"{k}: {v}" for k, v in run.meta.items()), run.secrets)),
        summary=scrub(_summary(run.evaluation.overall), run.secrets),
        calls=calls,
    )
    path.write_text(page, encoding="utf-8")


def _summary(s: Scores) -> str:
    cells = [
        ("calls", str(s.calls)),
        ("task success", _pct(s.task_success)),
        ("WER", f"{_pct(s.wer)} ({s.wer_words} words)"),
        ("intent accuracy", f"{_pct(s.intent_accuracy)} ({s.intent_turns} turns)"),
        ("containment", _pct(s.containment)),
        ("handoff", _pct(s.handoff_rate)),
        ("abandonment", _pct(s.abandonment_rate)),
        ("latency p50 / p95", f"{_ms(s.latency_p50_ms)} / {_ms(s.latency_p95_ms)}"),
    ]
    return "".join(f"<div class=card><b>{_e(v)}</b><span>{_e(k)}</span></div>" for k, v in cells)


def _call(
    index: int, r: CallResult, s: Scores | None, secrets: tuple[str, ...], keyring: Keyring | None
) -> str:
    verdict = "pass" if r.passed else "fail"
    problems = [
        f"<li>{_e(c.what)}: expected {_e(c.expected)}, got {_e(c.got)}</li>"
        for c in r.checks
        if not c.ok
    ]
    problems += [
        f"<li>turn {d.turn if d.turn is not None else '-'} {_e(d.field)}: "
        f"<del>{_e(d.original)}</del> → <ins>{_e(d.replay)}</ins></li>"
        for d in r.diffs
    ]
    if r.error:
        problems.append(f"<li>error: {_e(r.error)}</li>")
    notes = "".join(f"<p class=note>{_e(n)}</p>" for n in r.notes)
    figures = (
        f"WER {_pct(s.wer)}, intents {_pct(s.intent_accuracy)}, latency p50 {_ms(s.latency_p50_ms)}"
        if s
        else ""
    )
    body = _PAGE_CALL.substitute(
        anchor=f"call{index + 1}",
        verdict=verdict,
        name=_e(f"{index + 1}. {r.name}"),
        source=_e(r.source),
        outcome=_e(r.outcome + (f" ({r.reason})" if r.reason else "")),
        handoff=_e(r.handoff or "none"),
        figures=_e(figures),
        timing=_e(f"{r.line_s:.0f} s of call in {r.wall_s:.0f} s"),
        problems=f"<ul class=problems>{''.join(problems)}</ul>" if problems else "",
        notes=notes,
        media="<!--media-->",
        turns="".join(_turn(t) for t in r.turns),
    )
    # Audio goes in after the scrub: base64 data may contain a PIN's digits by chance.
    return scrub(body, secrets).replace("<!--media-->", _media(r.recording, keyring), 1)


def _turn(t: dict[str, Any]) -> str:
    said = t["transcript"] or f"[{t['input_kind']}]"
    intent = t["intent"] or "-"
    expected = t.get("expected_intent")
    mark = ""
    if expected:
        mark = " ok" if expected == t["intent"] else f" bad (expected {expected})"
    reference = t.get("reference")
    timing = " ".join(
        f"{label} {t[key]:.0f}"
        for label, key in (("asr", "asr_ms"), ("nlu", "dialogue_ms"), ("resp", "response_ms"))
        if t.get(key) is not None
    )
    return (
        f"<tr><td>{t['turn']}</td><td>{_e(t.get('step') or t['input_kind'])}</td>"
        f"<td>{_e(said)}"
        + (f"<br><small>ref: {_e(reference)}</small>" if reference else "")
        + "</td>"
        f"<td class='{'bad' if 'bad' in mark else ''}'>{_e(intent)}{_e(mark)}</td>"
        f"<td>{_e(t['bot_text'])}</td><td class=num>{_e(timing)}</td></tr>"
    )


def _media(recording: str, keyring: Keyring | None) -> str:
    """Players for both channels of the call's stereo recording, and its waveform."""
    path = Path(recording) if recording else None
    if path is None or not path.is_file():
        return "<p class=note>no recording</p>"
    try:
        rate, channels, pcm = open_recording(path, keyring)
    except RecordingError as exc:
        return f"<p class=note>recording unreadable: {_e(str(exc))}</p>"
    samples = np.frombuffer(pcm, "<i2").reshape(-1, channels)[: rate * MAX_AUDIO_S]
    caller, bot = samples[:, 0], samples[:, min(1, channels - 1)]
    return (
        f"<div class=players><label>caller <audio controls preload=none "
        f"src='{_wav_uri(caller, rate)}'></audio></label>"
        f"<label>bot <audio controls preload=none src='{_wav_uri(bot, rate)}'></audio></label>"
        f"</div>{_waveform(caller, bot, rate)}"
    )


def _wav_uri(samples: np.ndarray, rate: int) -> str:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return "data:audio/wav;base64," + base64.b64encode(buffer.getvalue()).decode()


def _waveform(caller: np.ndarray, bot: np.ndarray, rate: int) -> str:
    """An SVG envelope: the caller above the line, the bot below."""
    points = WAVE_POINTS
    if not len(caller):
        return ""

    def envelope(channel: np.ndarray) -> np.ndarray:
        usable = len(channel) // points * points or len(channel)
        blocks = np.abs(channel[:usable].astype(np.int32)).reshape(
            points if usable >= points else 1, -1
        )
        return blocks.max(axis=1) / 32768.0

    up, down = envelope(caller), envelope(bot)
    bars = "".join(
        f"<line x1='{i}' x2='{i}' y1='{50 - 48 * a:.1f}' y2='50' class=c />"
        f"<line x1='{i}' x2='{i}' y1='50' y2='{50 + 48 * b:.1f}' class=b />"
        for i, (a, b) in enumerate(zip(up, down, strict=True))
    )
    seconds = len(caller) / rate
    return (
        f"<svg class=wave viewBox='0 0 {len(up)} 100' preserveAspectRatio='none' role=img "
        f"aria-label='waveform: caller above, bot below, {seconds:.0f} s'>{bars}</svg>"
    )


def _e(text: object) -> str:
    return html.escape(str(text))


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.0f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} ms"


_PAGE = Template("""<!doctype html>
<html lang=en><head><meta charset=utf-8><title>$title</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px}.meta{color:#666}
.cards{display:flex;flex-wrap:wrap;gap:8px;margin:12px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:110px}
.card b{display:block;font-size:18px}.card span{color:#666;font-size:12px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:14px 0;padding:10px 14px}
section.fail{border-left:6px solid #c62828}section.pass{border-left:6px solid #2e7d32}
h2{font-size:16px;margin:4px 0}.verdict{font-size:12px;padding:2px 6px;border-radius:4px;color:#fff}
.pass .verdict{background:#2e7d32}.fail .verdict{background:#c62828}
table{border-collapse:collapse;width:100%;margin-top:8px}
td,th{border-top:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{font-size:12px;color:#666}.num{white-space:nowrap;font-size:12px;color:#555}
.bad{color:#c62828}.problems{color:#c62828}.note{color:#666;font-style:italic}
del{background:#fdd}ins{background:#dfd;text-decoration:none}
.players{display:flex;gap:16px;flex-wrap:wrap;margin:6px 0}
.players audio{height:30px;vertical-align:middle}
.wave{width:100%;height:70px;background:#f4f6f8}.wave .c{stroke:#1565c0}.wave .b{stroke:#ef6c00}
</style></head><body>
<h1>$title</h1><p class=meta>$meta</p>
<div class=cards>$summary</div>
$calls
</body></html>
""")

_PAGE_CALL = Template("""<section id=$anchor class=$verdict>
<h2>$name <span class=verdict>$verdict</span></h2>
<p class=meta>$source · outcome $outcome · handoff $handoff · $figures · $timing</p>
$problems$notes$media
<table><tr><th>#</th><th>step</th><th>caller (transcript)</th><th>intent</th><th>bot</th>
<th>timing ms</th></tr>$turns</table>
</section>""")
