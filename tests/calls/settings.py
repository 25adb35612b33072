"""The shared services with some settings changed, for one test's sessions."""

from __future__ import annotations

import dataclasses

from ivr.services import Services


def with_call_settings(services: Services, **settings: object) -> Services:
    """The shared services with these ``call`` settings changed."""
    config = services.config
    call = dataclasses.replace(config.call, **settings)
    return dataclasses.replace(services, config=dataclasses.replace(config, call=call))
