"""Counter station (clerk call/serve UI, dossier intake). Built on ``server/``."""
