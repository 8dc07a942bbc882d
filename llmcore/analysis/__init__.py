"""Reading the model's states: traces, lenses, probes, evaluations and interventions."""
