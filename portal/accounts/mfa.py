"""Two-factor authentication: TOTP (RFC 6238) devices and one-time recovery codes.

* The TOTP secret is stored encrypted (Fernet, key derived from ``SECRET_KEY``; keys in
  ``SECRET_KEY_FALLBACKS`` still decrypt) and never logged or audited.
* A code is accepted for the current time-step and one on either side (clock drift), and
  each time-step at most once (replay protection: ``last_used_step`` only grows, changed
  with a conditional UPDATE so two requests cannot both use one code).
* Recovery codes have 60 random bits; only their SHA-256 (salted with the user id) is
  stored; each works once (conditional UPDATE as well).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import pyotp
import segno
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from portal.accounts.models import RecoveryCode, TOTPDevice, User

STEP = 30  # seconds per TOTP code
DRIFT = 1  # time-steps accepted on either side of now
RECOVERY_CODES = 10
_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no l/o/0/1: easy to read back


def required_for(user: User) -> bool:
    """Whether the user's role must use a second factor (``MFA_REQUIRED_ROLES``)."""
    return user.role in settings.MFA_REQUIRED_ROLES


def device_of(user: User) -> TOTPDevice | None:
    """The user's confirmed TOTP device, or None."""
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).first()


def has_device(user: User) -> bool:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


# -- the secret, encrypted at rest -------------------------------------------------------------


def _fernet() -> MultiFernet:
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    fernets = []
    for key in keys:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"portal.accounts.mfa"
        ).derive(str(key).encode())
        fernets.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(fernets)


def encrypt_secret(secret: str) -> str:
    return _fernet().encrypt(secret.encode()).decode()


def decrypt_secret(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken as exc:  # SECRET_KEY changed without a fallback
        raise ValueError("TOTP secret cannot be decrypted with the current keys") from exc


def secret_of(device: TOTPDevice) -> str:
    return decrypt_secret(device.secret_encrypted)


# -- enrolment -----------------------------------------------------------------------------------


def start_enrolment(user: User) -> TOTPDevice:
    """A new unconfirmed device for ``user`` (replacing an unconfirmed one)."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user, confirmed_at__isnull=True).delete()
        return TOTPDevice.objects.create(
            user=user, secret_encrypted=encrypt_secret(pyotp.random_base32())
        )


def pending_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed_at__isnull=True).first()


def provisioning_uri(user: User, device: TOTPDevice) -> str:
    return pyotp.TOTP(secret_of(device)).provisioning_uri(
        name=user.email, issuer_name=settings.MFA_ISSUER
    )


def qr_svg(uri: str) -> str:
    """The QR code of ``uri`` as an inline ``<svg>`` element (no external request)."""
    qr = segno.make(uri, error="m")
    return str(
        qr.svg_inline(
            scale=4,
            border=3,
            omitsize=True,
            light="#fff",
            title="QR code for your authenticator app",
        )
    )


def confirm_enrolment(user: User, device: TOTPDevice, code: str) -> list[str] | None:
    """Check the first code; on success the device is the user's (an older confirmed
    device is replaced) and a fresh set of recovery codes is returned."""
    step = _matching_step(secret_of(device), code, after=device.last_used_step)
    if step is None:
        return None
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        device.confirmed_at = timezone.now()
        device.last_used_step = step
        device.save(update_fields=["confirmed_at", "last_used_step"])
        return new_recovery_codes(user)


def disable(user: User) -> None:
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        RecoveryCode.objects.filter(user=user).delete()


# -- checking a code -----------------------------------------------------------------------------


def _normal(code: str) -> str:
    return "".join(code.split()).replace("-", "").lower()


def _matching_step(secret: str, code: str, after: int, now: float | None = None) -> int | None:
    code = _normal(code)
    if not (code.isdigit() and len(code) == 6):
        return None
    totp = pyotp.TOTP(secret)
    current = int((time.time() if now is None else now) // STEP)
    for step in range(current - DRIFT, current + DRIFT + 1):
        if step > after and hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def verify_totp(user: User, code: str) -> bool:
    """A valid, not yet used code of the user's confirmed device."""
    device = device_of(user)
    if device is None:
        return False
    step = _matching_step(secret_of(device), code, after=device.last_used_step)
    if step is None:
        return False
    # Only one request can move last_used_step past ``step``: a replayed code fails here.
    return bool(
        TOTPDevice.objects.filter(pk=device.pk, last_used_step__lt=step).update(last_used_step=step)
    )


def _hash_code(user: User, code: str) -> str:
    return hashlib.sha256(f"{user.pk}:{_normal(code)}".encode()).hexdigest()


def new_recovery_codes(user: User) -> list[str]:
    """Replace the user's recovery codes; the plain codes are returned once, to show."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_ALPHABET) for _ in range(12))  # 60 bits
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    with transaction.atomic():
        RecoveryCode.objects.filter(user=user).delete()
        RecoveryCode.objects.bulk_create(
            [RecoveryCode(user=user, code_hash=_hash_code(user, c)) for c in codes]
        )
    return codes


def use_recovery_code(user: User, code: str) -> bool:
    normal = _normal(code)
    if len(normal) != 12 or not has_device(user):
        return False
    used = RecoveryCode.objects.filter(
        user=user, code_hash=_hash_code(user, normal), used_at__isnull=True
    ).update(used_at=timezone.now())
    return bool(used)


def recovery_codes_left(user: User) -> int:
    return RecoveryCode.objects.filter(user=user, used_at__isnull=True).count()


def verify(user: User, code: str) -> str:
    """``"totp"`` or ``"recovery"`` for a good code (then it is used up), else ``""``."""
    if verify_totp(user, code):
        return "totp"
    if use_recovery_code(user, code):
        return "recovery"
    return ""
