"""One exception type for user mistakes: the CLI prints its message on one line and exits 2."""


class SafedriftError(Exception):
    """A problem the user can fix (bad config, missing file, unknown name). Never a bug."""
