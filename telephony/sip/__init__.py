"""SIP user agent server (RFC 3261) that answers calls and hands each one over as a CallBridge."""
