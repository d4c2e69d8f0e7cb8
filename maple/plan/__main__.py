import sys

from maple.plan.cli import main

sys.exit(main())
