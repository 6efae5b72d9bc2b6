"""`python -m bundle` (what `make bundle` runs): stage and pack dist/policyqa-offline.tar.gz."""
import sys

from .make import main

sys.exit(main())
