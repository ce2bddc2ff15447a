"""Scoring generated images against real ones: FID, KID and precision/recall on network features."""
