"""Error tracking: the guide's ``switch (error.type)`` in Python, with ``match``.

Provokes one error of each kind from a real path (a missing model, a bad generation
config, a bad prompt, a bad environment variable, a memory budget), handles each by
its ``ErrorType``, and shows the last error, its location, an error callback that
filters and a CleanupHandler. Run::

    python examples/errors.py

With an OTel SDK configured (``hyperion_otel.configure()`` or your own providers) every
recorded error also becomes span status + ``error.type``, an exception log record tied
to the span, and a count in ``hyperion.errors``.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from hyperion_otel.cleanup import CleanupHandler
from hyperion_otel.errors import (
    ErrorType,
    HyperionError,
    error_boundary,
    get_error_string,
    get_last_error,
    remove_error_callback,
    set_error_callback,
)
from hyperion_otel.validation import validate_inputs


def handle(error: HyperionError) -> str:
    """What an application might do for each kind of failure."""
    match error.type:
        case ErrorType.MEMORY:
            return "memory: free caches or lower the batch size, then retry"
        case ErrorType.PERFORMANCE:
            return "performance: shed load or relax the latency budget"
        case ErrorType.MODEL:
            return "model: check the path, re-download the checkpoint, run verify_model()"
        case ErrorType.INVALID_INPUT:
            return "invalid input: reject the request with a 400 and the message"
        case ErrorType.CONFIG:
            return "config: fix the setting named in the message and restart"
        case _:
            return f"other ({get_error_string(error.type)}): report it"


seen: Counter[str] = Counter()


def count_and_filter(error: HyperionError) -> bool:
    """Error callback: count every error; keep bad user input out of the error logs."""
    seen[error.type.name] += 1
    return error.type is not ErrorType.INVALID_INPUT  # False suppresses the log record


def attempt(title: str, work: Callable[[], object]) -> None:
    print(f"\n{title}")
    try:
        with error_boundary():  # what the application's request handler would do
            work()
    except HyperionError:
        error = get_last_error()  # the guide's hyperionGetLastError(&error)
        assert error is not None
        print(f"  error:    {error}")
        where = Path(error.file)
        print(f"  location: {where.parent.name}/{where.name}:{error.line} in {error.function}")
        print(f"  action:   {handle(error)}")


def missing_model(root: Path) -> None:
    from hyperion_otel.runtime import load_model

    load_model(root / "no-such-model")


def bad_generation_config() -> None:
    from hyperion_otel.runtime import GenerationConfig

    GenerationConfig(temperature=-1.0)


def bad_prompt() -> None:
    validate_inputs(prompt=[5, 17, 300], vocab_size=256, context_length=1024)


def bad_environment() -> None:
    from hyperion_otel.settings import Settings

    Settings.from_env({"HYPERION_LOG_LEVEL": "loud"})


def over_budget() -> None:
    from hyperion_otel.memory import MemoryConfig, init_memory

    pool = init_memory(MemoryConfig(initial_pool_size=0, max_pool_size=1 << 20))
    pool.allocate((1024, 1024), "float32")  # 4 MiB against a 1 MiB budget


def release_pool(order: list[str]) -> None:
    from hyperion_otel.memory import shutdown_memory

    shutdown_memory()
    order.append("memory pool released")


def main() -> int:
    set_error_callback(count_and_filter)  # hyperionSetErrorCallback(error_handler)
    order: list[str] = []  # what the cleanups did, in the order they did it
    try:
        with CleanupHandler() as cleanup:  # released last-in first-out, even on errors
            workdir = cleanup.add_cleanup(tempfile.TemporaryDirectory(), lambda d: d.cleanup())
            cleanup.add_cleanup(order, release_pool)
            cleanup.add_cleanup(order, lambda o: o.append("report written"))

            root = Path(workdir.name)
            attempt("1. load a model that is not there", lambda: missing_model(root))
            attempt("2. a generation config with a negative temperature", bad_generation_config)
            attempt("3. a prompt with a token id outside the vocabulary", bad_prompt)
            attempt("4. an environment variable with a bad value", bad_environment)
            attempt("5. a tensor larger than the memory budget", over_budget)
    finally:
        remove_error_callback(count_and_filter)
    print(f"\ncleanups ran in order: {order}, then the work directory was removed")
    print(f"errors seen by the callback: {dict(seen)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
