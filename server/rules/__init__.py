"""The pure rules of the courtroom: no I/O, no await.

Read ``session.py`` first: it holds the transition table and the theory of operation.
"""
