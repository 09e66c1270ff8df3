"""The web console ``monitor run`` serves with ``[web]``: tickets, one-click links from
alert mail, mentions, source health and a keyword tester, in Chinese and English, with
a JSON API. ``links`` is standard library only, so mail can carry links without the web
stack loaded; ``console.create_app`` builds the ASGI application."""
