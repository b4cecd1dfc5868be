"""The one exception the engine raises for problems a user can cause (bad file, odd data).

The command line prints its message and exits with status 2; the server turns it into a 4xx or
a failed snapshot with the message. Anything else escaping the engine is a bug on our side.
"""
from __future__ import annotations


class RatingDataError(ValueError):
    """Data that cannot be rated as asked; the message says what and where, for a person."""
