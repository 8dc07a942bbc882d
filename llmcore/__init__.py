"""LLM Landscape's core: the world a small word-level GPT learns, the model, and what reads, trains and maps it.

Never imports Streamlit. Sub-packages in layers, each importing only those to its left:

    world < model < analysis < training < maps      (inputs, files, address below them all; loader, cli above)

The public API in one place: import each name from the module that holds it (one import path per name; this
package re-exports nothing).

    llmcore.world.load               load_world, world_from_dict, read_world_data, generate_corpus, DEFAULT_WORLD
    llmcore.world.types              World, WorldError, FUNCTION_CONTEXT
    llmcore.world.corpus             CorpusGenerator
    llmcore.world.edit               set_animal, parse_world_text, to_toml, EditError
    llmcore.world.suggest            matching_words, suggestions, unknown_words_message
    llmcore.model.checkpoint         load_checkpoint, save_checkpoint, Checkpoint, CheckpointError, DEFAULT_CHECKPOINT
    llmcore.model.config             GPTConfig
    llmcore.model.gpt                GPT, TracedLM
    llmcore.model.caches             ActivationCache, KVCache
    llmcore.model.tokenizer          Tokenizer
    llmcore.model.hf                 load_hf_checkpoint
    llmcore.model.protocols          LanguageModel, Labeller, Sites
    llmcore.model.depths             depth_labels, FINAL
    llmcore.model.threads            one_thread
    llmcore.model.hooks              hooked, model_sites
    llmcore.analysis.trace           trace_generation, generate, GenerationTrace, SamplingConfig, PromptError
    llmcore.analysis.evaluate        evaluate_quality, held_out_breakdown
    llmcore.analysis.reference       reference_states, SubContextClassifier
    llmcore.analysis.interventions   causal_trace, patched_run, Noise, CausalTrace
    llmcore.analysis.counterfactual  counterfactual_grid, held_out_restoration, CounterfactualGrid
    llmcore.analysis.attribution     attribute, ablate
    llmcore.analysis.steering        steering_vector, steer, steering_sweep
    llmcore.analysis.lens            fit_lens, measure_lens, ensure_lens, trace_readings, TunedLens
    llmcore.analysis.probes          fit_probes, world_traits
    llmcore.analysis.sae             fit_stack, SAEConfig
    llmcore.analysis.features        fit_features, load_features, prompt_features, steer_with_feature, Features
    llmcore.analysis.feature_axis    feature_axis, FeatureAxis
    llmcore.training.trainer         Trainer, TrainCallback
    llmcore.training.config          TrainConfig
    llmcore.training.folder          check_training_folder, has_complete_checkpoint
    llmcore.training.warmstart       warm_model, warm_start_problem, world_change
    llmcore.training.snapshots       snapshot_checkpoints, SnapshotMetrics
    llmcore.training.losslandscape   random_loss_landscape, loss_on_plane
    llmcore.maps.store               MapBook, FittedMap, ReferenceSet, fit_map, get_map
    llmcore.maps.projection          make_projector, PCAProjector, UMAPProjector, TSNEProjector, LDAProjector,
                                     SemanticAxesProjector, map_quality
    llmcore.maps.methods             MAP_METHODS, map_method, method_names
    llmcore.maps.placement           neighbour_place
    llmcore.maps.regions             region_map, RegionMap
    llmcore.maps.landscape           decision_landscape, next_word_regions
    llmcore.maps.alignment           align_models, align_snapshots, AlignedMap
    llmcore.maps.bestview            measure_best_view, load_best_view, BestView
    llmcore.maps.watch               watch_maps, prompt_over_training
    llmcore.maps.formats             trace_steps_frame, trace_lens_frame, projector_files, read_projector_files
    llmcore.maps.callbacks           MapCacheCallback, clear_map_cache
    llmcore.maps.results             model_result
    llmcore.maps.tracecache          save_trace, load_trace
    llmcore.loader                   any_checkpoint
    llmcore.inputs                   InputError, parse_json, parse_toml, read_bytes
    llmcore.files                    atomic_write, user_cache_dir, user_data_dir, FolderLock
    llmcore.address                  check_address, loopback
    llmcore.cli                      main (the `llmcore` command)

tests/test_readme.py checks that every name listed here is importable from its module.
"""
