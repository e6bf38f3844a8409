"""Doctor profiles and the public directory."""
