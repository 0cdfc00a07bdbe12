"""Training utilities shared by the pretraining, fine-tuning and detector recipes."""

from eegssm.train.optim import no_decay, param_groups

__all__ = ["no_decay", "param_groups"]
