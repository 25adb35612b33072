"""The bank hotline voice bot: configuration, call orchestration, records, tools and the CLI."""

__version__ = "0.1.0"
