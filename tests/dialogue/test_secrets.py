"""The PIN vault: opaque, one-time, short-lived tokens; values never shown."""

from __future__ import annotations

from dialogue.secrets import SecretVault, is_token


def test_token_is_opaque_and_redeems_once() -> None:
    vault = SecretVault()
    token = vault.deposit("2468")
    assert is_token(token) and "2468" not in token
    assert vault.redeem(token) == "2468"
    assert vault.redeem(token) is None
    assert len(vault) == 0


def test_tokens_expire() -> None:
    now = [1000.0]
    vault = SecretVault(ttl_s=30, clock=lambda: now[0])  # not the default (120 s)
    kept, expired = vault.deposit("2468"), vault.deposit("1357")
    now[0] += 29
    assert vault.redeem(kept) == "2468"
    now[0] += 2
    assert vault.redeem(expired) is None
    assert len(vault) == 0


def test_vault_never_shows_its_values() -> None:
    vault = SecretVault()
    vault.deposit("2468")
    assert "2468" not in repr(vault) and "2468" not in str(vault)
    assert not is_token("2468") and not is_token("secret:xyz")
