"""Front ends: waveforms to feature images (:mod:`.mel`, :mod:`.dft`) and their
standardisation (:mod:`.normalize`)."""

#: What one mean/std pair of :class:`.normalize.Normalize` is measured over: each element, each
#: mel band, or nothing (``module.normalize``). Here, not in normalize.py (which imports torch),
#: so that the training command checks the setting before torch's seconds-long import.
NORMALIZE_PER = ("element", "mel", "none")
