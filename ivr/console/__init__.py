"""The web console under ``/console``: staff log in to read call records, the audit log and users.

It is served by the bot's own HTTP server (or a listener of its own, ``console.port``) as an
aiohttp sub-application with its own middlewares: security headers on every response, then
sessions, roles and CSRF (``auth``). Its state lives next to the call records in the records
database (``schema``): users with scrypt password hashes (``users``, ``passwords``), server-side
sessions (``sessions``) and an append-only audit log (``audit``). Pages read calls through the
read-only ``queries`` module and render with ``html`` from ``templates/`` and ``static/``.
"""
