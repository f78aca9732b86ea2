"""``python -m genre_lightning``: train with the Hydra config in conf/."""

from genre_lightning.train import main

if __name__ == "__main__":
    main()
