"""The results contract (a record's shape, key and verdict; reading a file), the run folder (atomic
writes, lock, journal, resume) and merging runs."""
