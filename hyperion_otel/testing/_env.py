"""TestConfig and configure_test_env: the guide's test environment, as an undoable setup."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from types import TracebackType

from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.testing._checks import bad, check_choice, check_count, check_path
from hyperion_otel.testing._context import _EXPORTER_FAULTS, ExporterFault, TestContext
from hyperion_otel.testing.faults import (
    IO_FAULTS,
    FailingAllocator,
    IOFault,
    allocation_failures,
    io_fault,
)

__all__ = ["TestConfig", "TestEnv", "configure_test_env"]


@public
@dataclass(frozen=True)
class TestConfig:
    """What ``configure_test_env`` fakes.

    ``mock_memory``: allocations go through a ``FailingAllocator`` with a small budget
    (``memory_budget_bytes``) and optionally fail after ``fail_allocation_after`` calls.
    ``mock_io``: writes under ``io_fault_dir`` fail with ``io_fault`` and, when a
    ``TestContext`` is given, its exporters fail with ``exporter_fault``.
    """

    __test__ = False

    mock_memory: bool = False
    mock_io: bool = False
    memory_budget_bytes: int = 64 * 1024 * 1024
    fail_allocation_after: int | None = None
    io_fault: IOFault = "disk_full"
    io_fault_dir: str | None = None
    exporter_fault: ExporterFault | None = "failure"

    def __post_init__(self) -> None:
        for name in ("mock_memory", "mock_io"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "a bool", getattr(self, name))
        check_count(self.memory_budget_bytes, "memory_budget_bytes")
        check_count(self.fail_allocation_after, "fail_allocation_after", optional=True)
        check_choice(self.io_fault, "io_fault", IO_FAULTS, optional=False)
        check_path(self.io_fault_dir, "io_fault_dir", optional=True)
        check_choice(self.exporter_fault, "exporter_fault", _EXPORTER_FAULTS, optional=True)


@public
class TestEnv:
    """The applied test environment; ``close()`` (or leaving ``with``) undoes it."""

    __test__ = False

    def __init__(self, config: TestConfig, context: TestContext | None) -> None:
        if not isinstance(config, TestConfig):
            raise bad("config", "a TestConfig", config)
        if context is not None and not isinstance(context, TestContext):
            raise bad("context", "a TestContext or None", context)
        self.config = config
        self.allocator: FailingAllocator | None = None
        self.io_faults: dict[str, int] = {}
        self._stack = contextlib.ExitStack()
        self._context = context
        try:
            if config.mock_memory:
                self.allocator = self._stack.enter_context(
                    allocation_failures(config.memory_budget_bytes, config.fail_allocation_after)
                )
            if config.mock_io:
                if config.io_fault_dir is not None:
                    self.io_faults = self._stack.enter_context(
                        io_fault(config.io_fault, config.io_fault_dir)
                    )
                if context is not None:
                    context.inject_exporter_fault(config.exporter_fault)
                    self._stack.callback(context.inject_exporter_fault, None)
        except BaseException:
            self._stack.close()
            raise

    def close(self) -> None:
        self._stack.close()

    def __enter__(self) -> TestEnv:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@public
def configure_test_env(config: TestConfig, context: TestContext | None = None) -> TestEnv:
    """Apply ``config`` now; returns a ``TestEnv`` whose ``close()`` restores everything."""
    if not isinstance(config, TestConfig):
        raise bad("config", "a TestConfig", config)
    if config.mock_io and config.io_fault_dir is None and context is None:
        raise InvalidInputError(
            "TestConfig(mock_io=True) needs io_fault_dir (a directory whose writes fail) "
            "or a TestContext whose exporters should fail",
            field="io_fault_dir",
        )
    return TestEnv(config, context)
