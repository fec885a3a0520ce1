"""DICOMweb (DICOM PS3.18) under ``/dicomweb/``: QIDO-RS search, WADO-RS retrieve
(instances, metadata, frames, rendered images) and STOW-RS store.

- ``access``: who is asking (a personal API token, a share link's token, or the browser
  session) and which studies that reaches: exactly what the pages reach
  (``uploads.permissions``); the audit of each request.
- ``attributes``: the DICOM JSON model of stored instances (read through Django's storage
  API, kept in ``models.InstanceHeader``), and the attributes each QIDO level returns.
- ``qido``, ``wado``, ``stow``: the three services; ``multipart``: multipart/related.
- ``middleware``: CORS for a separately hosted viewer; no CSRF for Bearer requests.

STOW-RS hands files to the intake (``uploads.intake.receive``) like an upload: quota,
quarantine, de-identification in a worker, storage. Nothing bypasses de-identification.
"""
