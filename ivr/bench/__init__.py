"""``make bench``: real calls over SIP on 127.0.0.1 against the bot, timed on the wire.

A load generator of our own (:mod:`ivr.bench.caller`) dials the bot (run as ``ivr serve`` in a
subprocess, :mod:`ivr.bench.bot`), speaks generated G.711 caller audio in real time and times
each turn from the caller's last voiced frame to the first RTP packet of the bot's reply.
:mod:`ivr.bench.run` drives the scenarios (one long call, a concurrency ramp, engine variants
side by side) and :mod:`ivr.bench.report` turns the turns into figures, JSON and a table.
"""
