"""``python -m gui``: the same as ``reslens-gui``."""

import sys

from gui.app import main

sys.exit(main())
