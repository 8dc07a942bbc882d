"""The world a model learns: its parts (types), reading and checking a world file (load, check), editing it (edit), the
corpus it makes (corpus) and help with unknown words (suggest). Imports nothing else of llmcore but inputs."""
