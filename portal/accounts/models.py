"""The portal's user: email is the login, and each user has exactly one role."""

from __future__ import annotations

from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    PATIENT = "patient", _("Patient / uploader")
    RADIOLOGIST = "radiologist", _("Radiologist")
    ADMIN = "admin", _("Administrator")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.update(role=Role.ADMIN, email_verified=True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email__iexact=username or "")


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    name = models.CharField(
        max_length=150, blank=True, help_text="Shown on signed reports (radiologists)."
    )
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.PATIENT)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="Can use the Django admin site.")
    email_verified = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)
    # The viewer's mouse convention (frontend/src/viewer/mouse.js); empty: the default.
    viewer_mouse = models.CharField(max_length=16, blank=True)
    # The language the portal and its emails use for this user (settings.LANGUAGES); empty:
    # the browser's (Accept-Language), and settings.LANGUAGE_CODE for emails.
    language = models.CharField(max_length=8, blank=True, default="")

    objects: ClassVar[UserManager] = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        ordering = ["email"]

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.lower()
        # The Django admin site is for the admin role only: staff rights follow the role.
        self.is_staff = self.is_superuser = self.role == Role.ADMIN
        super().save(*args, **kwargs)

    @property
    def is_patient(self) -> bool:
        return self.role == Role.PATIENT

    @property
    def is_radiologist(self) -> bool:
        return self.role == Role.RADIOLOGIST

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def display_name(self) -> str:
        return self.name or self.email


class ExternalIdentity(models.Model):
    """An account at an OpenID Connect provider linked to a portal account.

    It is made once, on the first sign-in (by an email the provider said was verified, or
    with a new account); later sign-ins match by (issuer, subject) only, never by email.
    """

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="external_identities")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    linked_at = models.DateTimeField(default=timezone.now)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="unique_external_identity")
        ]

    def __str__(self) -> str:
        return f"{self.user} via {self.issuer}"


# -- two-factor authentication (portal/accounts/mfa.py) ---------------------------------------


class TOTPDevice(models.Model):
    """A user's authenticator app. Unconfirmed while enrolling (until the first code)."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="totp_devices")
    # Fernet token of the base32 secret (key derived from SECRET_KEY); never logged.
    secret_encrypted = models.TextField()
    confirmed_at = models.DateTimeField(null=True, blank=True)
    # The last time-step whose code was accepted: each code works once.
    last_used_step = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"TOTP device of user {self.user_id}"


class RecoveryCode(models.Model):
    """A one-time recovery code: only a salted SHA-256 of it is kept."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="recovery_codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["user", "code_hash"])]

    def __str__(self) -> str:
        return f"recovery code {self.pk} of user {self.user_id}"


# -- sessions (portal/accounts/session_records.py) --------------------------------------------


class UserSession(models.Model):
    """One signed-in session: listed on the Security page, ended there or by the limits."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    key_hash = models.CharField(max_length=64, db_index=True)  # SHA-256 of the session key
    method = models.CharField(max_length=20, blank=True)  # password, oidc, invite...
    mfa = models.CharField(max_length=10, blank=True)  # totp, recovery, or "" (none)
    created_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=120, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "ended_at"])]

    def __str__(self) -> str:
        return f"session {self.pk} of user {self.user_id}"
