"""Pixels: decoding, hand-made features, augmentation."""
