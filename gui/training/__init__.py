"""The Train tab: fine-tune a model on a labelled folder (see :mod:`gui.training.tab`)."""
