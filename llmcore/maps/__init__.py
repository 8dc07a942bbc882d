"""Maps of states and words: projections and placement, the cached map store (store), regions, decision landscapes,
alignment of snapshots, the measured default view (bestview), Watch-training maps (watch), what a training run does
for the maps (callbacks), a trace kept with its maps (tracecache) and export formats. The top package: built on
analysis and training."""
