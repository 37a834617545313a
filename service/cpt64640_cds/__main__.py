"""`python -m cpt64640_cds` is the `cpt64640` command."""

import sys

from .cli import main

sys.exit(main())
