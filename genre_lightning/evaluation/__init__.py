"""Fitting a labelled data set to a trained checkpoint for ``genre_lightning.evaluate``: the data
config (:mod:`.checkpoint_data`), the genres scored (:mod:`.genres`) and the features checked
against the checkpoint's training features (:mod:`.features`)."""
