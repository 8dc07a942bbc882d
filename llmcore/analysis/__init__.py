"""Reading a model's states: traced generation (trace), quality measures (evaluate), reference states and the
sub-context classifier (reference), interventions (causal tracing, patching), attribution, steering, lenses and
probes. Built on the model package; imports no map or training code."""
