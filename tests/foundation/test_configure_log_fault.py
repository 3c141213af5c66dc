"""configure() goes on without the log file when its directory cannot be made."""

from __future__ import annotations

from pathlib import Path

import pytest

import hyperion_otel.sdk as sdk
from hyperion_otel.settings import Settings


def test_unusable_log_directory_disables_the_file_not_the_app(
    tmp_path: Path, capsys, reset_otel_globals
) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a directory should be")
    try:
        tel = sdk.configure(
            Settings(
                output_dir=str(tmp_path),
                log_file=str(blocker / "sub" / "x.log"),
                log_outputs=("file",),
            )
        )
        assert tel.tracer_provider is not None
    finally:
        sdk.shutdown()
    assert "log file disabled" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_leftover() -> None:
    assert sdk.get_telemetry() is None
