"""What every room of gancli shares: the plugin registry, image shapes and pixels, the device
choice and crash-safe file writes. Nothing here imports another gancli package but `errors`."""
