"""The portal's DICOM engine: parse, de-identify, render, group and sort slices.

Plain Python (pydicom, numpy, Pillow). Nothing in this package may import Django
or Celery: views, Celery tasks and management commands call into it, never the
other way round (``tests/test_engine_isolation.py`` enforces this).
"""
