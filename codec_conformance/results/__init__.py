"""The results contract (records, journal, merge) and the HTML report."""
