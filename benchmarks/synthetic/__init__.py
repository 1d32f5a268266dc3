"""Offline suite: procedurally generated mirrors of the ten Table 4 columns (images, sounds, videos), no downloads."""
