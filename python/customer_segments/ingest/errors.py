"""The error every reader of the ingest package raises when the input as a whole cannot be used.

It lives apart from the readers so that each of them, and the boundary checks of other layers, can raise
it without importing the others.
"""


class InputError(ValueError):
    """The transactions file cannot be used; the message names the file and what is wrong."""
