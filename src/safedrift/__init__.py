"""safedrift: measure how fine-tuning changes an LLM's safety, with honest error bars."""

__version__ = "0.1.0"
