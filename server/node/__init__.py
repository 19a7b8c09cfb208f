"""The process's entry points: the ``courtroom`` CLI and the ASGI app object. May import anything."""
