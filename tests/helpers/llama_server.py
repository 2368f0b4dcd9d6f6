"""Start llama-cpp-python's OpenAI-compatible server on a GGUF (the `server` extra), with the
llama.cpp weight-buffer setting safedrift uses. Usage: python llama_server.py MODEL PORT"""

import sys

import uvicorn
from llama_cpp.server.app import create_app
from llama_cpp.server.settings import ModelSettings, ServerSettings

from safedrift.models.backends import extra_buffers_enabled, llama_model_params

model, port = sys.argv[1], int(sys.argv[2])
with llama_model_params(use_extra_bufts=extra_buffers_enabled()):
    app = create_app(server_settings=ServerSettings(host="127.0.0.1", port=port),
                     model_settings=[ModelSettings(model=model, model_alias="smol", n_ctx=2048,
                                                   n_threads=2, n_threads_batch=2,
                                                   verbose=False)])
uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
