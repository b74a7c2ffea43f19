"""``python -m tracker``: the ``tracker`` command."""

from tracker.cli import main

main()
