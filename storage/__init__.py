"""Storage shared by the layers: the SQL database helper and owner-only files and folders.

The bank backend (``dialogue/bank``) and the call records (``ivr/records.py``) keep their
data through the same database helper; it lives here, below both, because ``dialogue/`` may
not import the application (``ivr/``) and the application should not borrow a helper from
inside the assistant. Nothing here knows about calls, dialogue or configuration.
"""
