"""`python -m payload_operator` is the same as the `payload-operator` command."""

import sys

from payload_operator.cli.main import main

sys.exit(main())
