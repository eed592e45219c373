"""Provider lifecycle rule stores: read a bucket's whole rule set, write it back."""
