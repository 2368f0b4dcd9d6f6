"""Benign fine-tuning: data, LoRA training, and export of the adapter to GGUF for llama.cpp."""
