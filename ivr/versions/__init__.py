"""Designers' drafts, numbered versions of the assistant, and the bot running the published one."""
