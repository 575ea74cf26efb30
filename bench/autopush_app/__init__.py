"""A two-model Django app for ``bench/autopush.py``: one model registered for auto-push, one not.

The two models are identical (same abstract base, same fields, same table layout), so the only
difference a save sees is pushbridge's ``post_save`` handler and its ``on_commit`` callback.
"""
