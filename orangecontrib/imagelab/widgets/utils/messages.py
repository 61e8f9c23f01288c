"""Texts shared by the widgets' messages."""
from orangecontrib.imagelab.api import ImageLabError

#: Failures whose message is written for the user (a path, a reason, a fix).
EXPECTED_ERRORS = (ImageLabError, OSError, ValueError)


def error_text(ex: BaseException) -> str:
    """What an Error message shows for an exception from a background job."""
    if isinstance(ex, EXPECTED_ERRORS):
        return str(ex)
    return f"Unexpected error: {type(ex).__name__}: {ex}"
