"""The admin REST API of the controller: policies, pools, status, decisions, what-if.

``create_app(settings, deps)`` in ``app.py`` builds the aiohttp application;
``serve_api(settings, deps)`` runs it on a port for as long as a context is open.
"""
