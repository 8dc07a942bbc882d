"""Training: the Trainer loop with its callbacks (trainer), loss landscapes (losslandscape), warm starts (warmstart)
and weight snapshots (snapshots). Built on the model and analysis packages; imports no map code: the maps attach to a
run as a callback (llmcore.maps.callbacks)."""
