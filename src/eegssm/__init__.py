"""eegssm: long-sequence EEG modeling with state-space models.

Subpackages: ``nn`` (sequence cores), ``io`` (recordings and annotations), ``preprocessing``
(channels, montages, filters, windows), ``data`` (cache, datasets, synthetic EEG), ``scoring``
(NEDC / SzCORE scoring). Import what you need; heavy dependencies load lazily.
"""

__version__ = "0.1.0"
