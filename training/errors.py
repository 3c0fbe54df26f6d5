"""The trainer's one error type: a message that says what to do, printed as one line by the CLI."""


class TrainError(Exception):
    """A user-facing error; the CLI prints `parm train: <message>` and exits with status 2."""
