"""The PS3.15 E.3 options applied on top of the Basic Profile (PS3.16 CID 7050)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from uploads.dicom.constants import LO_MAX_LENGTH, METHOD_TEMPLATE, OPTION_INFO

# OPTION_INFO: option name -> (Table E.1-1 column key, CID 7050 code, code meaning),
# PS3.16 CID 7050 (uploads/dicom/constants.py; DeidOptions declares its fields in the same
# order).


@dataclass(frozen=True)
class DeidOptions:
    """The PS3.15 E.3 options applied on top of the Basic Profile.

    Attributes
    ----------
    retain_patient_characteristics : bool
        Keep age, sex, size, weight, ethnic group, smoking/pregnancy status (E.3.5).
    retain_longitudinal_modified_dates : bool
        Shift every date and date-time of a patient by the same keyed offset of -1 to
        -3650 days, keeping intervals; times are kept (E.3.6). Without it dates follow
        the Basic Profile (emptied, removed or dummy) and LongitudinalTemporalInformation
        Modified is ``REMOVED``.
    retain_device_identity, retain_institution_identity : bool
        Keep device serial numbers/station names, institution name/address (E.3.3, E.3.4).
    clean_descriptors : bool
        Keep descriptions (Study/Series Description, Protocol Name, comments ...) after
        removing every occurrence of the patient's names and identifiers found in the
        data set (E.3.1); see ``docs/deidentification.md`` for exactly what is removed.
    retain_safe_private : bool
        Keep the private attributes of the allow-list in the profile JSON, remove all
        other private elements (E.3.10).
    """

    retain_patient_characteristics: bool = True
    retain_longitudinal_modified_dates: bool = True
    retain_device_identity: bool = False
    retain_institution_identity: bool = False
    clean_descriptors: bool = True
    retain_safe_private: bool = True

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        """All option names, e.g. ``retain_patient_characteristics``."""
        return OPTION_NAMES

    @classmethod
    def from_names(cls, names: Iterable[str]) -> DeidOptions:
        """Options with exactly the named options enabled (settings, CLI).

        Names are case-insensitive and may use ``-`` for ``_``; blanks are ignored.

        Raises
        ------
        ValueError
            For an unknown name.

        Examples
        --------
        >>> DeidOptions.from_names(["clean-descriptors"]).names()
        ('clean_descriptors',)
        """
        valid = cls.option_names()
        chosen: set[str] = set()
        for raw in names:
            name = raw.strip().lower().replace("-", "_")
            if not name:
                continue
            if name not in valid:
                raise ValueError(
                    f"unknown de-identification option {raw.strip()!r}; "
                    f"valid options: {', '.join(valid)}"
                )
            chosen.add(name)
        return cls(**{name: name in chosen for name in valid})

    def names(self) -> tuple[str, ...]:
        """The enabled option names, in declaration order."""
        return tuple(name for name in self.option_names() if getattr(self, name))

    def with_changes(self, enable: Iterable[str] = (), disable: Iterable[str] = ()) -> DeidOptions:
        """A copy with some options switched on or off (names as in :meth:`from_names`)."""
        on = DeidOptions.from_names(enable).names()
        off = DeidOptions.from_names(disable).names()
        changes: dict[str, Any] = {name: True for name in on}
        changes.update({name: False for name in off})
        return replace(self, **changes)

    def profile_columns(self) -> frozenset[str]:
        """The Table E.1-1 option columns these options enable."""
        return frozenset(OPTION_INFO[name][0] for name in self.names())


OPTION_NAMES = tuple(f.name for f in fields(DeidOptions))


def method_values(options: DeidOptions, edition: str) -> list[str]:
    """De-identification Method (0012,0063): the profile with its edition, then the
    meaning of each option's CID 7050 code, each cut to LO's 64 characters."""
    found = [METHOD_TEMPLATE.replace("{edition}", edition)]
    found += [OPTION_INFO[name][2] for name in options.names()]
    return [v[:LO_MAX_LENGTH] for v in found]
