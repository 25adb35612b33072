"""Asterisk AudioSocket: the TLV frames and the TCP server that turns connections into calls."""
