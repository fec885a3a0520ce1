"""The PS3.15 Annex E de-identification engine, one purpose a module.

:mod:`uploads.dicom.deidentify` is its public face (import from there); the modules here,
in the order a file goes through them:

=================  ==========================================================================
``files``          reading and writing encoded files (PS3.10), refusing damaged ones
``options``        :class:`DeidOptions`, the PS3.15 E.3 options (PS3.16 CID 7050)
``identity``       the identity the pseudonym and date shift are keyed from; our own output
``names``          the names and identifiers cut out of descriptors (Clean Descriptors)
``review``         whether the pixels need a human look (burned-in annotation)
``run``            the state of one de-identification (keyed UID remap, scrub patterns)
``walk``           the walk over the data set: Table E.1-1 per element, sequences
``actions``        one element's action (``Z``, ``D`` with per-VR dummies, ``U``, ``C``)
``dates``          the date shift of Retain Longitudinal Temporal Information (E.3.6)
``private``        private elements: the safe allow-list kept, the rest removed (E.3.10)
``markers``        the attributes added to every output (PS3.15 E.1.1 item 6)
``elements``       element values read from the encoded bytes without conversion
``results``        :class:`DeidResult` and :class:`DeidAction`, what was done
``engine``         :func:`deidentify` and its encoded-file variants, tying it together
=================  ==========================================================================

Keyed UIDs, the pseudonym and the date shift themselves are :mod:`uploads.dicom.uids`;
Table E.1-1 is :mod:`uploads.dicom.profile`; the constants shared with the browser engine
(``frontend/src/deid/``) are :mod:`uploads.dicom.constants`.
"""
