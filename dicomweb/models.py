"""The DICOM JSON of a stored instance's header, read once from storage.

QIDO-RS answers and WADO-RS metadata come from the stored (de-identified) files; reading
a header through the storage API for every query would be slow (S3), so the first read
keeps it here. It is deleted with its instance; a stored file never changes (names are
create-only), so the copy never goes stale.
"""

from __future__ import annotations

from django.db import models

from uploads.models import Instance


class InstanceHeader(models.Model):
    instance = models.OneToOneField(
        Instance, primary_key=True, on_delete=models.CASCADE, related_name="dicomweb_header"
    )
    #: The stored file's name when it was read (a sanity check, as in the render cache).
    file = models.CharField(max_length=255)
    #: DICOM JSON model (PS3.18 F.2) of every attribute but Pixel Data and bulk values.
    dataset = models.JSONField()

    def __str__(self) -> str:
        return f"DICOM JSON of instance {self.instance_id}"
