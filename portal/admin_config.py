"""App config of ``django.contrib.admin`` with the portal's site (``portal/admin_site.py``)."""

from django.contrib.admin.apps import AdminConfig


class PortalAdminConfig(AdminConfig):
    """The Django admin, whose default site logs in through the portal's login page."""

    default_site = "portal.admin_site.PortalAdminSite"
