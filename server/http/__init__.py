"""The HTTP surface: the app factory, routes, the socket entry, origins, throttling, the uvicorn runner.

May import every layer of the server but ``server.node``.
"""
