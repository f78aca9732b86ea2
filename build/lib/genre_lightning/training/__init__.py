"""Training: the LightningModule, its callbacks, checkpoint IO, augmentation and the
track-level evaluation of chunked recordings."""
