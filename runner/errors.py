"""Which failures are errors in the user's data, reported as one `error:` block (exit 1), and
which are bugs, left to their traceback."""

import re
from typing import Optional

from components.anomalies_gate import DataAnomaliesError
from components.drift_gate import DataDriftError
from components.movielens_example_gen.executor import MalformedDataError
from components.movielens_example_gen.time_split import TimeSplitError

DATA_ERRORS = (MalformedDataError, DataAnomaliesError, DataDriftError, TimeSplitError)
# Beam appends the step's name to an exception raised inside it.
_BEAM_STEP = re.compile(r"\s*\[while running '[^']*'\]\s*$")


def data_error_message(error: BaseException) -> Optional[str]:
    """The message of the data error that caused `error`, or None if none did.

    In-process (the in-memory DirectRunner) the exception itself is in the chain of causes; from
    a DirectRunner worker process it arrives as the text of the worker's traceback, in which the
    last `<ErrorName>: ` line starts the message.
    """
    seen = set()
    cause: Optional[BaseException] = error
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if isinstance(cause, DATA_ERRORS):
            return _BEAM_STEP.sub("", str(cause))
        cause = cause.__cause__ or cause.__context__
    text = str(error)
    for kind in DATA_ERRORS:
        marker = f"{kind.__name__}: "
        if marker in text:
            return text.rsplit(marker, 1)[1].split(" [while running")[0]
    return None
