"""Language-model access: `client.LLMClient` for the service, `local` for the offline model."""

import os

# litellm fetches a price list from the network at import unless told not to.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
