"""The model and its files: the GPT (gpt), its shape (config), the word tokenizer, checkpoint folders (checkpoint),
local Hugging Face models behind the same interface (hf), the named depths and hook sites (depths, hooks) and what the
rest needs from a model (protocols). Built on the world package."""
