"""blurwatch: culls blurry, dark and overexposed photos into XMP sidecars.

A photo's way, in one direction: :mod:`discovery` finds it (a RAW+JPEG pair is one
shot), :func:`job.run_job` decodes it (:mod:`decoding`), judges it
(:func:`pipeline.judge`: :mod:`exposure`, :mod:`sharpness`, :mod:`verdict`) and writes
the verdict: :mod:`sidecar` decides what goes into the sidecar and who owns what,
:mod:`xmp` merges it through exiv2, :mod:`files` puts the file in place. The job also
notes how the frame was taken (:mod:`capture`); a second stage, :mod:`burst_stage`,
groups the frames of a run into bursts and brackets (:mod:`bursts`, pure) and rewrites
the sidecars whose group changed. ``--once`` runs jobs in :mod:`workers` and the burst
stage at the end; the daemon (:mod:`watcher`, :mod:`backlog`, :mod:`burst_tracker`,
:mod:`daemon`) runs the same jobs as photos arrive and the stage once a camera is quiet.

Modules, core first; each imports only modules before it in this list (tests/test_lint.py
holds them to it):
  core:  errors, config, files, packet, xmp, decoding, capture, logistic, exposure, sharpness, verdict, pipeline
  core:  bursts, sidecar, discovery, job, burst_stage
  edge:  state, systemd, watcher, backlog, burst_tracker, workers, daemon, thumbnails, report, demo, commands, cli
"""

__version__ = "0.1.0"
