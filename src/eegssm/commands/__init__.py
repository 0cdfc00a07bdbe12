"""Sub-commands of the ``eegssm`` command line, one module each (see ``eegssm.cli``)."""
