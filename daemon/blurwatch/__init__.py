"""blurwatch: culls blurry, dark and overexposed photos into XMP sidecars.

A photo's way, in one direction: :mod:`discovery` finds it (a RAW+JPEG pair is one
shot), :func:`job.run_job` decodes it (:mod:`decoding`), judges it
(:func:`pipeline.judge`: :mod:`exposure`, :mod:`sharpness`, :mod:`verdict`) and writes
the verdict: :mod:`sidecar` decides what goes into the sidecar and who owns what,
:mod:`xmp` merges it through exiv2, :mod:`files` puts the file in place. ``--once``
runs jobs in :mod:`workers`; the daemon (:mod:`watcher`, :mod:`backlog`, :mod:`daemon`)
runs the same jobs as photos arrive.

Modules, core first; each imports only modules before it in this list (tests/test_lint.py
holds them to it):
  core:  errors, config, files, packet, xmp, decoding, exposure, sharpness, verdict, pipeline, sidecar, discovery, job
  edge:  state, systemd, watcher, backlog, workers, daemon, thumbnails, report, demo, commands, cli
"""

__version__ = "0.1.0"
