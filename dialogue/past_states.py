"""A live conversation's past states, worked out once per event rather than at every prediction.

Before each action it predicts, every policy (memoization, rules, TED) asks Rasa for the state
of the conversation before each of its actions so far (``Domain.states_for_tracker_history``),
and Rasa builds them by replaying every event since the call began. Three policies, two or three
predictions a turn, each replaying the whole call: a turn cost more the longer the call, 115 ms
at its start and 230 ms fifty turns later (README, Performance).

What an event changes is fixed once it is applied, so for a conversation followed here (the
in-process store, :class:`~dialogue.tracker_store.LiveTrackerStore`, keeps each one as the same
tracker object from turn to turn) the replay is kept and carried on from where the previous
prediction left it. It restarts from the first event whenever the events applied so far are no
longer the ones it replayed (Rasa rewinds a turn, a session restarts, the domain changes). Any
other tracker (training, a stand-alone ``rasa run`` that rebuilds trackers from JSON) gets Rasa's
replay unchanged. The states handed out are copies: Rasa's featurizers edit the ones they get.

:func:`_carry_on` is the body of Rasa 3.6's ``states_for_tracker_history`` loop, one prior
tracker at a time; a test compares both on long conversations through the trained assistant.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain, State, SubState
from rasa.shared.core.events import ActionExecuted, Event
from rasa.shared.core.trackers import DialogueStateTracker

MAX_FOLLOWED = 1024
"""Conversations whose replays are kept, the least recently used dropped beyond (a node serves
tens of calls; each replay holds a copy of its call's dialogue state)."""


@dataclass
class _Replay:
    """The states of one conversation's history so far, for one way of asking for them."""

    domain: Domain
    events: list[Event]
    """The applied events replayed, in order (the tracker's own objects)."""
    tracker: DialogueStateTracker
    """A tracker that has applied ``events``."""
    states: list[State] = field(default_factory=list)
    last_ml_action: SubState | None = None
    hidden: bool = False


@dataclass
class _Followed:
    tracker: weakref.ReferenceType[DialogueStateTracker]
    replays: dict[tuple[bool, bool, str], _Replay] = field(default_factory=dict)


_followed: OrderedDict[int, _Followed] = OrderedDict()
_lock = threading.RLock()
"""Reentrant: a tracker collected while the lock is held drops its entry from the same thread."""
_rasa_states: Any = None
"""Rasa's own ``Domain.states_for_tracker_history`` (its function), kept once replaced."""


def follow(tracker: DialogueStateTracker) -> None:
    """Keep the replay of ``tracker``'s history between predictions (until it is forgotten, is
    no longer referenced, or :data:`MAX_FOLLOWED` newer ones push it out)."""
    key = id(tracker)
    with _lock:
        known = _followed.get(key)
        if known is not None and known.tracker() is tracker:
            _followed.move_to_end(key)
            return
        _followed[key] = _Followed(weakref.ref(tracker, lambda _: _drop(key)))
        while len(_followed) > MAX_FOLLOWED:
            _followed.popitem(last=False)


def forget(tracker: DialogueStateTracker) -> None:
    """Stop following ``tracker`` (its call has ended)."""
    with _lock:
        known = _followed.get(id(tracker))
        if known is not None and known.tracker() is tracker:
            del _followed[id(tracker)]


def _drop(key: int) -> None:
    with _lock:
        known = _followed.get(key)
        if known is not None and known.tracker() is None:
            del _followed[key]


def states_for_tracker_history(
    domain: Domain,
    tracker: DialogueStateTracker,
    omit_unset_slots: bool = False,
    ignore_rule_only_turns: bool = False,
    rule_only_data: dict[str, Any] | None = None,
) -> list[State]:
    """``Domain.states_for_tracker_history``, carrying on a followed tracker's replay."""
    with _lock:
        replays = _replays_of(tracker)
    if replays is None:  # nothing kept to share: Rasa's replay needs no lock
        return list(
            _rasa_states(domain, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        )
    with _lock:
        way = (omit_unset_slots, ignore_rule_only_turns, _key(rule_only_data))
        applied = tracker.applied_events()
        replay = replays.get(way)
        if replay is None or replay.domain is not domain or not _continued(replay, applied):
            replay = _Replay(domain, [], tracker.init_copy())
            replays[way] = replay
        for event in applied[len(replay.events) :]:
            if isinstance(event, ActionExecuted):
                _carry_on(replay, event.hide_rule_turn, way, rule_only_data)
            replay.tracker.update(event)
            replay.events.append(event)
        states = [_copy(state) for state in replay.states]
        # The state after the last event: not kept, the next event decides how it counts.
        current = _Replay(domain, [], replay.tracker, states, replay.last_ml_action, replay.hidden)
        _carry_on(current, False, way, rule_only_data)
        return current.states


def _replays_of(tracker: DialogueStateTracker) -> dict[tuple[bool, bool, str], _Replay] | None:
    """The replays kept for ``tracker``, or None when it is not followed."""
    known = _followed.get(id(tracker))
    return known.replays if known is not None and known.tracker() is tracker else None


def _carry_on(
    replay: _Replay,
    hide_rule_turn: bool,
    way: tuple[bool, bool, str],
    rule_only_data: dict[str, Any] | None,
) -> None:
    """Add the state of ``replay.tracker`` (the conversation before its next action), as one
    pass of Rasa's loop does."""
    domain, tracker = replay.domain, replay.tracker
    omit_unset_slots, ignore_rule_only_turns, _ = way
    if ignore_rule_only_turns:
        if not replay.hidden:
            replay.last_ml_action = domain._get_prev_action_sub_state(tracker)
        if not tracker.followup_action and tracker.latest_action_name != tracker.active_loop_name:
            replay.hidden = hide_rule_turn
        if replay.hidden:
            return
    state = domain.get_active_state(tracker, omit_unset_slots=omit_unset_slots)
    if ignore_rule_only_turns:
        domain._remove_rule_only_features(state, rule_only_data)
        if replay.states:
            domain._substitute_rule_only_user_input(state, replay.states[-1])
        if replay.last_ml_action:
            state[PREVIOUS_ACTION] = replay.last_ml_action
    replay.states.append(domain._clean_state(state))


def _continued(replay: _Replay, applied: list[Event]) -> bool:
    """Whether ``applied`` begins with the events ``replay`` has replayed (the same objects)."""
    done = replay.events
    if len(done) > len(applied):
        return False
    return all(a is b for a, b in zip(done, applied[: len(done)], strict=True))


def _key(rule_only_data: dict[str, Any] | None) -> str:
    return repr(sorted((k, tuple(v)) for k, v in (rule_only_data or {}).items()))


def _copy(state: State) -> State:
    return {kind: dict(sub_state) for kind, sub_state in state.items()}


def install() -> None:
    """Carry on followed replays in this process's Rasa (idempotent)."""
    global _rasa_states
    if _rasa_states is None:
        _rasa_states = Domain.states_for_tracker_history
    Domain.states_for_tracker_history = states_for_tracker_history
