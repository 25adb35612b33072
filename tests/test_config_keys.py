"""Every configuration key has a test that changes it and checks the behaviour that follows.

``BEHAVIOUR_TESTS`` names, for each key of the composed :class:`~ivr.config.Config`, the test
that sets it (or the plain value it is copied into: ``SipLimits``, ``StreamLimits``,
``InputRate``, ``GuardPolicy``, an engine's constructor argument) to something other than its
default and asserts what the bot then does differently. ``WITHOUT_BEHAVIOUR_TEST`` holds the few
keys no cheap test can show, each with the reason. A key added to the configuration without an
entry, an entry for a key that no longer exists, or a test that was renamed away fails here.
"""

from __future__ import annotations

import ast
import dataclasses
import typing
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from ivr.config import Config

TESTS = Path(__file__).resolve().parent

ENDPOINTER = "audio/test_endpointer.py"
LISTENER = "test_listener.py"
VOCABULARY = "speech/test_vocabulary.py"
WHISPER = "speech/test_asr_whisper.py"
TTS_ENGINES = "tts/test_engines.py"
ACTIONS = "dialogue/test_actions.py"
LOCKOUT = "dialogue/test_lockout.py"
ACTION_ROUTES = "dialogue/test_action_routes.py"
CONFIG = "test_config.py"
SESSION = "calls/test_session.py"
RESTART = "calls/test_restart.py"
QA_CALLS = "calls/test_qa_calls.py"
QA_FILES = "qa/test_qa_files.py"
SIP_SERVER = "telephony/test_sip_server.py"
SIP_ACCESS = "telephony/test_sip_access.py"
SIP_LIMITS = "telephony/test_sip_limits.py"
STREAM_LIMITS = "telephony/test_stream_limits.py"
STREAM_ACCESS = "telephony/test_stream_access.py"
CLUSTER_PLAN = "cluster/test_plan.py"
CLUSTER_CALLS = "cluster/test_kamailio_cluster.py"
CLUSTER_DIALOGUE_TEST = (
    "test_the_nodes_share_the_rasa_servers_whose_actions_come_back_through_routers"
)
CLUSTER_CALLS_TEST = "test_calls_spread_over_nodes_and_survive_a_drained_and_a_killed_node"
POLICING = "telephony/test_policing.py"
LOGS = "test_logs.py"
CONSOLE_LOGIN = "console/test_login.py"

HTTP_DIALOGUE = (
    CONFIG,
    "test_http_dialogue_serves_actions_where_configured_and_gives_rasa_its_timeout",
)
HTTP_TOKENS = (CONFIG, "test_http_dialogue_takes_both_tokens_from_owner_only_files")
CONFIGURED_RUNTIME = (ACTIONS, "test_the_bank_and_the_knowledge_come_from_the_configured_files")
GUARDS = (
    LOCKOUT,
    "test_the_guard_settings_set_the_failures_that_lock_their_window_and_the_hourly_budget",
)
LISTENS = (RESTART, "test_the_server_listens_only_where_its_settings_say")
DRAIN = (RESTART, "test_drain_s_is_how_long_a_running_call_goes_on_before_it_is_handed_off")
SIP_ADDRESSES = (
    SIP_SERVER,
    "test_the_server_listens_on_its_host_and_offers_its_public_address_and_rtp_range",
)
WS_CAPS = (
    STREAM_LIMITS,
    "test_websocket_connections_over_the_caps_are_refused_before_the_handshake",
)
PER_SOURCE = (STREAM_LIMITS, "test_one_unproven_address_cannot_take_every_place")
REDIAL = (
    STREAM_LIMITS,
    "test_an_unproven_address_redialling_in_a_loop_is_refused_before_the_handshake",
)
SILENT_WS = (
    STREAM_LIMITS,
    "test_silent_websocket_connections_are_closed_after_the_start_and_idle_timeouts",
)
SILENT_AUDIOSOCKET = (
    STREAM_LIMITS,
    "test_audiosocket_over_the_cap_is_hung_up_unread_and_a_silent_one_times_out",
)
CHUNK_OVER_BUDGET = (POLICING, "test_a_chunk_over_the_budget_keeps_whole_samples_up_to_it")
FAST_AUDIOSOCKET = (
    STREAM_LIMITS,
    "test_audiosocket_audio_and_digits_faster_than_real_time_are_dropped_and_counted",
)
MESSAGE_FLOOD = (
    STREAM_LIMITS,
    "test_a_flood_of_messages_that_carry_nothing_is_dropped_unparsed_then_closed",
)
TWILIO_SIGNATURE = (
    STREAM_ACCESS,
    "test_twilio_stream_needs_twilio_signature_over_the_public_wss_url",
)
CALLER_VOICE = (QA_FILES, "test_qa_caller_settings_voice_every_caller_a_script_leaves_unset")
QA_RUN = (
    QA_CALLS,
    "test_qa_turn_timeout_s_fails_a_step_whose_reply_comes_later_and_runs_land_in_reports_dir",
)
CONSOLE_SERVED = (RESTART, "test_the_console_is_served_where_its_settings_say")
NAME_LOCK = (
    CONSOLE_LOGIN,
    "test_failed_log_ins_lock_the_name_for_the_window_whether_or_not_it_exists",
)
FAILURE = (
    SESSION,
    "test_a_failure_speaks_the_configured_apology_and_hands_to_the_configured_agent",
)

BEHAVIOUR_TESTS: dict[str, tuple[str, str]] = {
    "vad.aggressiveness": (ENDPOINTER, "test_aggressiveness_decides_whether_loud_hiss_is_speech"),
    "vad.frame_ms": (ENDPOINTER, "test_frame_ms_sets_the_grid_every_decision_falls_on"),
    "vad.speech_start_ms": (
        ENDPOINTER,
        "test_speech_start_ms_is_the_voiced_run_that_confirms_speech",
    ),
    "vad.end_of_speech_ms": (
        ENDPOINTER,
        "test_end_of_speech_ms_is_the_silence_that_closes_the_utterance",
    ),
    "vad.early_end_ms": (
        LISTENER,
        "test_a_finished_sentence_ends_the_turn_early_and_a_fragment_waits_for_the_hangover",
    ),
    "vad.max_utterance_ms": (ENDPOINTER, "test_long_speech_is_cut_at_max_utterance_length"),
    "vad.no_input_ms": (ENDPOINTER, "test_no_input_fires_once_after_timeout"),
    "vad.pre_roll_ms": (ENDPOINTER, "test_pre_roll_ms_is_the_audio_kept_from_before_the_start"),
    "asr.engine": (VOCABULARY, "test_auto_picks_vosk_when_a_model_directory_is_configured"),
    "asr.vosk_model": ("speech/test_cli_transcribe.py", "test_transcribe_with_vosk_engine"),
    "asr.whisper_model": (
        WHISPER,
        "test_whisper_model_and_compute_type_choose_the_weights_that_are_loaded",
    ),
    "asr.whisper_compute_type": (
        WHISPER,
        "test_whisper_model_and_compute_type_choose_the_weights_that_are_loaded",
    ),
    "asr.whisper_beam_size": (WHISPER, "test_whisper_beam_size_is_the_beam_the_decoder_is_given"),
    "asr.worker_processes": (
        "speech/test_asr_workers.py",
        "test_the_workers_transcribe_as_the_bots_process_does",
    ),
    "asr.whisper_greedy_first": (
        WHISPER,
        "test_greedy_first_keeps_sure_decodes_beams_the_rest_and_encodes_once",
    ),
    "asr.whisper_encoder": (
        WHISPER,
        "test_whisper_encoder_full_encodes_the_whole_window_for_a_short_utterance_too",
    ),
    "asr.use_vocabulary": (VOCABULARY, "test_use_vocabulary_off_leaves_the_engine_unbiased"),
    "asr.vosk_domain_grammar": (VOCABULARY, "test_vosk_domain_grammar_uses_the_vocabulary_phrases"),
    "asr.max_audio_s": (
        "speech/test_asr_bad_audio.py",
        "test_a_stream_fed_two_hours_is_capped_and_marked_truncated",
    ),
    "asr.max_concurrent": (
        "speech/test_asr_async.py",
        "test_max_concurrent_is_how_many_recognitions_run_at_once",
    ),
    "asr.speculate_after_ms": (
        LISTENER,
        "test_speculate_after_ms_starts_a_guess_in_the_pause_and_zero_never_does",
    ),
    "tts.engine": (TTS_ENGINES, "test_create_tts_engine_shares_one_engine_per_config"),
    "tts.piper_model": (TTS_ENGINES, "test_piper_reports_a_missing_model_file"),
    "tts.pyttsx3_voice": (TTS_ENGINES, "test_pyttsx3_unknown_voice_is_a_clear_error"),
    "tts.speaking_rate": (TTS_ENGINES, "test_faster_speaking_rate_gives_shorter_speech"),
    "tts.cache_dir": ("tts/test_cli_say.py", "test_say_fills_the_prompt_cache"),
    "tts.cache_max_mb": (
        "tts/test_cache.py",
        "test_bounded_cache_evicts_least_recently_used_entries",
    ),
    "tts.piper_threads": (TTS_ENGINES, "test_piper_thread_count_is_configurable"),
    "tts.piper_variation": (
        TTS_ENGINES,
        "test_piper_without_variation_speaks_a_text_the_same_way_every_time",
    ),
    "tts.prepare_prompts": (
        "calls/test_prompt_warmup.py",
        "test_the_server_prepares_the_prompts_before_it_takes_calls_unless_told_not_to",
    ),
    "dialogue.mode": HTTP_TOKENS,
    "dialogue.server_urls": HTTP_DIALOGUE,
    "dialogue.server_retry_s": (
        "dialogue/test_http_client.py",
        "test_turns_fail_over_from_a_dead_server_and_the_end_forgets_the_call",
    ),
    "dialogue.project_dir": CONFIGURED_RUNTIME,
    "dialogue.model_dir": (
        "dialogue/test_training.py",
        "test_model_dir_and_model_name_are_where_the_model_is_looked_for",
    ),
    "dialogue.action_server_host": HTTP_DIALOGUE,
    "dialogue.action_server_port": HTTP_DIALOGUE,
    "dialogue.request_timeout_s": HTTP_DIALOGUE,
    "dialogue.model_name": (
        "dialogue/test_training.py",
        "test_model_dir_and_model_name_are_where_the_model_is_looked_for",
    ),
    "dialogue.knowledge_dir": CONFIGURED_RUNTIME,
    "dialogue.secret_ttl_s": ("dialogue/test_secrets.py", "test_tokens_expire"),
    "dialogue.action_token_file": HTTP_TOKENS,
    "dialogue.routes_url": (
        ACTION_ROUTES,
        "test_routes_url_names_the_registry_and_empty_means_one_node",
    ),
    "dialogue.routes_password_file": (
        ACTION_ROUTES,
        "test_the_password_comes_from_routes_password_file_and_a_wrong_one_is_a_clear_error",
    ),
    "dialogue.route_ttl_s": (ACTION_ROUTES, "test_a_route_lives_route_ttl_s_after_it_is_written"),
    "dialogue.rasa_token_file": HTTP_TOKENS,
    "bank.database": CONFIGURED_RUNTIME,
    "bank.seed_file": CONFIGURED_RUNTIME,
    "bank.transfer_limit_cents": (
        ACTIONS,
        "test_transfer_limit_cents_caps_the_amount_a_caller_may_move",
    ),
    "bank.max_pin_attempts": (
        ACTIONS,
        "test_max_pin_attempts_is_the_wrong_pins_that_lock_self_service",
    ),
    "bank.max_pin_failures": GUARDS,
    "bank.lockout_window_h": GUARDS,
    "bank.lockout_minutes": (LOCKOUT, "test_a_lock_ends_after_lockout_minutes_and_not_before"),
    "bank.max_verifications_per_hour": GUARDS,
    "bank.pin_pepper_file": ("test_pepper.py", "test_a_configured_pepper_file_must_exist"),
    "call.agent_uri": FAILURE,
    "call.records_db": ("calls/test_records.py", "test_calls_cli_lists_calls_and_shows_turns"),
    "call.recordings_dir": (
        "calls/test_stream_calls.py",
        "test_a_path_like_peer_call_id_writes_nothing_outside_and_reuse_overwrites_nothing",
    ),
    "call.recording_key_file": (SESSION, "test_authenticated_balance_call"),
    "call.retention_days": (
        "calls/test_stored_data.py",
        "test_purge_deletes_only_recordings_and_records_older_than_retention",
    ),
    "call.max_call_s": (SESSION, "test_max_call_s_ends_a_call_politely_when_it_runs_out"),
    "call.barge_in": (SESSION, "test_with_barge_in_off_caller_speech_does_not_stop_the_prompt"),
    "call.echo_cancel": (
        LISTENER,
        "test_echo_cancel_keeps_the_bots_returning_voice_from_the_endpointer",
    ),
    "call.apology": FAILURE,
    "server.drain_s": DRAIN,
    "server.node_id": (
        RESTART,
        "test_a_call_cut_by_sigkill_is_marked_interrupted_with_its_turns_at_restart",
    ),
    "server.max_calls": (
        "calls/test_node_capacity.py",
        "test_the_server_refuses_a_call_on_any_way_in_once_it_holds_max_calls",
    ),
    "sip.enabled": LISTENS,
    "sip.host": SIP_ADDRESSES,
    "sip.port": DRAIN,
    "sip.udp": (SIP_SERVER, "test_sip_udp_and_tcp_each_open_only_their_own_listener"),
    "sip.tcp": (SIP_SERVER, "test_sip_udp_and_tcp_each_open_only_their_own_listener"),
    "sip.public_address": SIP_ADDRESSES,
    "sip.rtp_port_min": SIP_ADDRESSES,
    "sip.rtp_port_max": SIP_ADDRESSES,
    "sip.max_calls": (SIP_SERVER, "test_busy_when_max_calls_reached"),
    "sip.trusted_sources": (
        SIP_ACCESS,
        "test_invite_from_outside_the_allow_list_gets_no_answer_and_no_media",
    ),
    "sip.digest_user": (SIP_ACCESS, "test_digest_challenge_then_right_password_answers_the_call"),
    "sip.digest_password_file": (
        SIP_ACCESS,
        "test_digest_with_wrong_password_is_forbidden_and_allocates_nothing",
    ),
    "sip.digest_realm": (SIP_ACCESS, "test_digest_challenge_then_right_password_answers_the_call"),
    "sip.outbound_proxy": (
        SIP_SERVER,
        "test_in_dialog_requests_go_to_the_configured_outbound_proxy",
    ),
    "sip.pike_requests": (
        SIP_LIMITS,
        "test_a_flooding_source_is_banned_while_another_is_still_answered",
    ),
    "sip.pike_invites": (SIP_LIMITS, "test_pike_bans_a_dense_source_for_ban_s_then_counts_afresh"),
    "sip.pike_window_s": (SIP_LIMITS, "test_pike_bans_a_dense_source_for_ban_s_then_counts_afresh"),
    "sip.pike_ban_s": (SIP_LIMITS, "test_pike_bans_a_dense_source_for_ban_s_then_counts_afresh"),
    "sip.pike_max_sources": (
        SIP_LIMITS,
        "test_pike_table_is_bounded_and_forgets_the_quietest_source",
    ),
    "sip.max_transactions": (SIP_LIMITS, "test_the_transaction_table_is_capped_with_503"),
    "sip.max_dialogs": (SIP_LIMITS, "test_the_dialog_table_is_capped_with_503"),
    "sip.max_unconfirmed_per_source": (
        SIP_LIMITS,
        "test_an_invite_flood_holds_few_lines_and_an_honest_caller_still_gets_through",
    ),
    "sip.tcp_max_connections": (
        SIP_LIMITS,
        "test_tcp_connections_are_capped_per_source_and_in_total",
    ),
    "sip.tcp_max_per_source": (
        SIP_LIMITS,
        "test_tcp_connections_are_capped_per_source_and_in_total",
    ),
    "sip.tcp_idle_s": (SIP_LIMITS, "test_idle_tcp_connections_are_closed_even_when_dribbling"),
    "sip.audio_burst_s": (
        SIP_LIMITS,
        "test_rtp_audio_ten_times_faster_than_real_time_is_cut_to_real_time_plus_the_burst",
    ),
    "sip.dtmf_per_s": (
        SIP_LIMITS,
        "test_a_burst_of_fifty_digits_over_rtp_and_info_passes_dtmf_per_s_of_them",
    ),
    "http.host": LISTENS,
    "http.port": LISTENS,
    "http.api_token_file": LISTENS,
    "websocket.max_unstarted": WS_CAPS,
    "websocket.max_calls_per_source": PER_SOURCE,
    "websocket.connections_per_minute_per_source": REDIAL,
    "websocket.start_timeout_s": SILENT_WS,
    "websocket.idle_timeout_s": SILENT_WS,
    "websocket.audio_burst_s": CHUNK_OVER_BUDGET,
    "websocket.dtmf_per_s": (POLICING, "test_digits_over_the_rate_never_reach_the_session"),
    "websocket.messages_per_s": MESSAGE_FLOOD,
    "websocket.flood_close_s": (
        STREAM_LIMITS,
        "test_a_flood_closes_that_call_as_bad_input_and_the_server_keeps_serving",
    ),
    "websocket.enabled": LISTENS,
    "websocket.max_message_kb": (
        STREAM_LIMITS,
        "test_a_message_over_the_size_limit_closes_its_call_and_a_smaller_one_is_heard",
    ),
    "websocket.max_calls": WS_CAPS,
    "websocket.token_file": (
        "calls/test_ways_in.py",
        "test_caller_with_the_media_token_is_answered_by_the_bot",
    ),
    "websocket.twilio_auth_token_file": TWILIO_SIGNATURE,
    "websocket.public_url": TWILIO_SIGNATURE,
    "audiosocket.max_unstarted": WS_CAPS,
    "audiosocket.max_calls_per_source": (
        STREAM_LIMITS,
        "test_audiosocket_bounds_one_unproven_address_too",
    ),
    "audiosocket.connections_per_minute_per_source": REDIAL,
    "audiosocket.start_timeout_s": SILENT_AUDIOSOCKET,
    "audiosocket.idle_timeout_s": SILENT_AUDIOSOCKET,
    "audiosocket.audio_burst_s": CHUNK_OVER_BUDGET,
    "audiosocket.dtmf_per_s": FAST_AUDIOSOCKET,
    "audiosocket.messages_per_s": MESSAGE_FLOOD,
    "audiosocket.flood_close_s": (
        POLICING,
        "test_a_flood_of_audio_is_flagged_once_the_excess_reaches_flood_close_s",
    ),
    "audiosocket.enabled": LISTENS,
    "audiosocket.host": DRAIN,
    "audiosocket.port": DRAIN,
    "audiosocket.max_calls": SILENT_AUDIOSOCKET,
    "audiosocket.trusted_sources": (
        STREAM_ACCESS,
        "test_audiosocket_from_an_untrusted_address_is_closed_before_reading",
    ),
    "console.enabled": CONSOLE_SERVED,
    "console.port": CONSOLE_SERVED,
    "console.host": CONSOLE_SERVED,
    "console.secure_cookie": (
        CONSOLE_LOGIN,
        "test_the_session_cookie_is_httponly_strict_scoped_and_secure_over_tls_or_when_told",
    ),
    "console.idle_timeout_min": (
        CONSOLE_LOGIN,
        "test_a_session_idle_for_idle_timeout_min_is_over",
    ),
    "console.absolute_timeout_h": (
        CONSOLE_LOGIN,
        "test_a_session_is_over_absolute_timeout_h_after_log_in_even_in_use",
    ),
    "console.max_failures_per_name": NAME_LOCK,
    "console.max_failures_per_address": (
        CONSOLE_LOGIN,
        "test_failed_log_ins_from_one_address_are_refused_past_its_limit",
    ),
    "console.failure_window_min": NAME_LOCK,
    "console.audit_retention_days": (
        "console/test_admin.py",
        "test_housekeeping_deletes_audit_rows_past_audit_retention_days_and_ended_sessions",
    ),
    "logging.level": (LOGS, "test_logging_level_sets_the_least_severe_line_shown"),
    "logging.format": (
        LOGS,
        "test_logging_format_json_writes_one_json_object_a_line_and_console_does_not",
    ),
    "qa.scripts_dir": (QA_FILES, "test_simulate_without_a_script_runs_those_in_qa_scripts_dir"),
    "qa.reports_dir": QA_RUN,
    "qa.bridge": (QA_CALLS, "test_a_script_runs_over_a_twilio_media_stream_websocket"),
    "qa.fast": (QA_CALLS, "test_the_shipped_suite_passes_faster_than_real_time"),
    "qa.caller_engine": CALLER_VOICE,
    "qa.caller_rate": CALLER_VOICE,
    "qa.caller_snr_db": CALLER_VOICE,
    "qa.turn_timeout_s": QA_RUN,
    "design.dir": ("versions/test_cli.py", "test_publish_show_and_roll_back_from_the_shell"),
    "design.follow_published": (
        "versions/test_cli.py",
        "test_the_bot_follows_the_published_version_unless_told_not_to",
    ),
    "design.watch_s": (
        "console/test_designer_browser.py",
        "test_a_designer_edits_tests_publishes_and_rolls_back_in_chromium",
    ),
    "design.keep_versions": (
        "versions/test_cli.py",
        "test_keep_versions_bounds_the_versions_on_disk",
    ),
    "design.test_scripts": (
        "console/test_versions_pipeline.py",
        "test_a_qa_failure_blocks_publishing_and_the_fixed_draft_is_published",
    ),
    "design.test_replays": (
        "console/test_versions_pipeline.py",
        "test_a_qa_failure_blocks_publishing_and_the_fixed_draft_is_published",
    ),
    "design.test_timeout_s": (
        "console/test_versions_page.py",
        "test_a_test_stopped_at_its_time_limit_fails_and_ends_its_process",
    ),
    "cluster.nodes": (CLUSTER_PLAN, "test_each_node_gets_its_own_address_and_the_shared_store"),
    "cluster.dir": (CLUSTER_CALLS, CLUSTER_CALLS_TEST),
    "cluster.front": (CLUSTER_CALLS, CLUSTER_CALLS_TEST),
    "cluster.first_node_address": (
        CLUSTER_PLAN,
        "test_each_node_gets_its_own_address_and_the_shared_store",
    ),
    "cluster.node_sip_port": (
        CLUSTER_PLAN,
        "test_each_node_gets_its_own_address_and_the_shared_store",
    ),
    "cluster.node_http_port": (
        CLUSTER_PLAN,
        "test_each_node_gets_its_own_address_and_the_shared_store",
    ),
    "cluster.postgres_port": (
        CLUSTER_PLAN,
        "test_each_node_gets_its_own_address_and_the_shared_store",
    ),
    "cluster.probe_interval_s": (CLUSTER_CALLS, CLUSTER_CALLS_TEST),
    "cluster.dialogue_servers": (CLUSTER_PLAN, CLUSTER_DIALOGUE_TEST),
    "cluster.first_dialogue_address": (CLUSTER_PLAN, CLUSTER_DIALOGUE_TEST),
    "cluster.rasa_port": (CLUSTER_PLAN, CLUSTER_DIALOGUE_TEST),
    "cluster.action_router_port": (CLUSTER_PLAN, CLUSTER_DIALOGUE_TEST),
    "cluster.redis_port": (CLUSTER_PLAN, CLUSTER_DIALOGUE_TEST),
    "cluster.lock_lifetime_s": (CLUSTER_PLAN, CLUSTER_DIALOGUE_TEST),
    "cluster.probe_failures": (
        CLUSTER_PLAN,
        "test_kamailio_accepts_the_shipped_configuration_with_the_plans_defines",
    ),
    "cluster.kamailio_config": (
        CLUSTER_PLAN,
        "test_kamailio_accepts_the_shipped_configuration_with_the_plans_defines",
    ),
}
"""Key -> (file under tests/, test function) that changes the key and checks what follows."""

WITHOUT_BEHAVIOUR_TEST: dict[str, str] = {
    "asr.language": "acts only with multilingual whisper weights; the embedded tiny.en (English "
    "only) ignores it, and no multilingual model is installed for tests",
    "asr.cpu_threads": "CTranslate2 takes it as its intra-op thread count, which it does not "
    "report back; only CPU usage would show it",
}
"""Keys read where they claim to act but with no cheap test of a change: each with its reason."""


def config_keys(cls: type = Config, prefix: str = "") -> Iterator[str]:
    """Every ``section.key`` of the composed configuration, sections walked recursively."""
    hints = typing.get_type_hints(cls)
    for item in dataclasses.fields(cls):
        kind = hints[item.name]
        if dataclasses.is_dataclass(kind):
            yield from config_keys(kind, f"{prefix}{item.name}.")
        else:
            yield f"{prefix}{item.name}"


@cache
def defined_tests(relative: str) -> frozenset[str]:
    """The module-level test functions defined in one test file."""
    tree = ast.parse((TESTS / relative).read_text(encoding="utf-8"))
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
    )


def test_every_key_has_exactly_one_entry() -> None:
    keys = list(config_keys())
    assert len(keys) == len(set(keys))
    listed = set(BEHAVIOUR_TESTS) | set(WITHOUT_BEHAVIOUR_TEST)
    assert not set(BEHAVIOUR_TESTS) & set(WITHOUT_BEHAVIOUR_TEST)
    assert sorted(set(keys) - listed) == [], "new keys need a behaviour test listed here"
    assert sorted(listed - set(keys)) == [], "these keys are gone from the configuration"


def test_every_listed_behaviour_test_exists() -> None:
    missing = [
        f"{key}: tests/{path}::{name}"
        for key, (path, name) in BEHAVIOUR_TESTS.items()
        if not (TESTS / path).is_file() or name not in defined_tests(path)
    ]
    assert missing == []


def test_every_key_without_a_behaviour_test_says_why() -> None:
    assert all(len(reason) > 40 for reason in WITHOUT_BEHAVIOUR_TEST.values())
