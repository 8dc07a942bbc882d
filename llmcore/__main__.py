"""`python -m llmcore COMMAND ...` (e.g. `torchrun --nproc_per_node 2 -m llmcore train --out FOLDER`): the CLI."""

from llmcore.cli import main

raise SystemExit(main())
