"""The errors swarmtrust raises, under one base so callers can catch the family.

    SwarmtrustError
    ├── KeyFileError              a key file is missing, malformed, readable by others, or would be overwritten
    ├── WireFormatError           bytes that are not a well-formed record of the expected type
    │   ├── UnsupportedVersionError   a record of a wire-format version this code does not know
    │   ├── RecordTooLargeError       a record over its size limit (checked before decoding)
    │   └── NonCanonicalError         valid values in another encoding than the one canonical form allows
    └── SignatureError            a signature that does not verify under the signer's public key

Other packages (ledger, verifier, api) derive their own errors from ``SwarmtrustError``.
"""

from __future__ import annotations


class SwarmtrustError(Exception):
    """Base of every error swarmtrust raises on purpose."""


class KeyFileError(SwarmtrustError):
    """A signing-key file cannot be used as asked; the message says how to fix it."""


class WireFormatError(SwarmtrustError):
    """Bytes that do not decode to a valid record: wrong types, lengths, ranges or a non-canonical encoding."""


class UnsupportedVersionError(WireFormatError):
    """A record carries a wire-format version this code does not implement."""


class RecordTooLargeError(WireFormatError):
    """A record is larger than its type allows; it was not decoded."""


class NonCanonicalError(WireFormatError):
    """The bytes decode, but re-encoding the values gives other bytes: one record must have one encoding."""


class SignatureError(SwarmtrustError):
    """A signature does not verify: the record was altered, or signed by another key."""
