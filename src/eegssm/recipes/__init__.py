"""Training recipes: data → model → checkpoints, shared by the commands and the experiments.

Each recipe is one module; ``eegm2`` holds EEGM2 reconstruction pretraining (plain or masked) and
classification fine-tuning (Light, Fine, linear probe, EEGNet baseline) on windows of real EEG,
split by subject.
"""
