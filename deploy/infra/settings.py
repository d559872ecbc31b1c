"""What several infra modules share: the repository root, the loopback address every server
listens on, and how long a clean stop may take before SIGKILL.

Kept apart so that no module has to import another only for a constant; everything else a single
module uses lives in that module.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # deploy/infra/settings.py -> the repository root
HOST = "127.0.0.1"
STOP_TIMEOUT = 30.0
