import sys

from .interrupt import EARLY, catch_early, pause

catch_early()  # before the heavy imports: a signal during them ends train with one line, not a traceback
pause("imports", EARLY)

from .cli import main  # noqa: E402

sys.exit(main())
