//! RFC 5545 recurrences evaluated in the patient's IANA zone.
