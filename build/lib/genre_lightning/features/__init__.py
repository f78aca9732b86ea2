"""Front ends: waveforms to feature images (:mod:`.mel`, :mod:`.dft`) and their
standardisation (:mod:`.normalize`)."""
