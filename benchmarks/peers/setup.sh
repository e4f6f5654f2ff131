#!/usr/bin/env bash
# Build a throwaway environment with the peer frameworks (NOT project dependencies).
#   benchmarks/peers/setup.sh [VENV_DIR]     (default /tmp/kalshi-peers)
set -euo pipefail
VENV="${1:-/tmp/kalshi-peers}"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
"$VENV/bin/pip" install -q nautilus_trader backtrader pandas pyarrow
"$VENV/bin/python" -c "import nautilus_trader, backtrader; print('nautilus_trader', nautilus_trader.__version__, '| backtrader', backtrader.__version__)"
