"""blurwatch: culls blurry, dark and overexposed photos into XMP sidecars.

Layers, core first (a layer never imports one below it in this list):
  core:  errors, config, decoding, exposure, sharpness, verdict, pipeline, sidecar, discovery
  edge:  workers, state, watcher, daemon, systemd, report, cli
"""

__version__ = "0.1.0"
